//! What a mail says: pure functions from events to a subject, a plain text part and an HTML part,
//! in English or Arabic (right to left), with times in the company's time zone and a link per
//! event to the console page where it is dealt with. No I/O, no clock: everything is passed in.
//!
//! Events never carry a key or a secret; the mailer still masks the company's key in what these
//! functions return, should a text from Bayzat ever echo it.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use domain::{BridgeEvent, BridgeEventV1};

/// The languages a contact may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    En,
    Ar,
}

impl Language {
    pub const CODES: [&'static str; 2] = ["en", "ar"];

    /// `en` or `ar`, as stored and as the API takes it.
    pub fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Ar => "ar",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "en" => Some(Language::En),
            "ar" => Some(Language::Ar),
            _ => None,
        }
    }

    fn dir(self) -> &'static str {
        match self {
            Language::En => "ltr",
            Language::Ar => "rtl",
        }
    }

    /// `en` or `ar`: the words in this language.
    fn pick<'a>(self, en: &'a str, ar: &'a str) -> &'a str {
        match self {
            Language::En => en,
            Language::Ar => ar,
        }
    }
}

/// The company a mail is about, as a mail shows it.
#[derive(Debug, Clone)]
pub struct CompanyFacts {
    pub slug: String,
    pub name_en: String,
    pub name_ar: Option<String>,
    pub timezone: Tz,
}

impl CompanyFacts {
    /// The company's name in `language` (its English name when it has no Arabic one).
    pub fn name(&self, language: Language) -> &str {
        match (language, &self.name_ar) {
            (Language::Ar, Some(name)) if !name.trim().is_empty() => name,
            _ => &self.name_en,
        }
    }
}

/// A mail, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Rendered {
    /// The same mail with every occurrence of `secret` replaced by `••••`.
    pub fn masking(self, secret: &str) -> Self {
        if secret.trim().is_empty() {
            return self;
        }
        let mask = |text: String| text.replace(secret, "••••");
        Self {
            subject: mask(self.subject),
            text: mask(self.text),
            html: mask(self.html),
        }
    }
}

/// How mails name the event types, in English and in Arabic (`BridgeEvent::TYPES` order).
const TYPE_NAMES: [(&str, &str, &str); 8] = [
    ("import.completed", "Imports completed", "اكتمال الاستيراد"),
    ("import.failed", "Imports that failed", "فشل الاستيراد"),
    (
        "import.needs_attention",
        "Imports that need attention",
        "استيراد يحتاج إلى مراجعة",
    ),
    (
        "company.sync_paused",
        "Bayzat sync paused (key refused)",
        "توقف المزامنة مع Bayzat (مفتاح مرفوض)",
    ),
    (
        "deliveries.failed",
        "Punches that failed",
        "بصمات فشل إرسالها",
    ),
    ("batch.completed", "Deliveries finished", "انتهاء الإرسال"),
    (
        "clock.silent",
        "Silent clocks",
        "أجهزة بصمة متوقفة عن الاتصال",
    ),
    (
        "clock.pending_approval",
        "Clocks waiting for approval",
        "أجهزة بصمة بانتظار الموافقة",
    ),
];

/// An event type's name in `language`; the type itself when it is not one of `TYPES`.
pub fn type_name(event_type: &str, language: Language) -> &str {
    TYPE_NAMES
        .iter()
        .find(|(code, _, _)| *code == event_type)
        .map(|(_, en, ar)| language.pick(en, ar))
        .unwrap_or(event_type)
}

/// The console page where `event` is dealt with. `console` is the console's public base URL.
pub fn fix_link(console: &str, company_slug: &str, event: &BridgeEvent) -> String {
    let console = console.trim_end_matches('/');
    let path = match event {
        BridgeEvent::ImportCompleted(facts) => format!("/imports/{}", facts.import_id),
        BridgeEvent::ImportFailed(failure) => format!("/imports/{}", failure.import_id),
        BridgeEvent::ImportNeedsAttention(attention) => {
            format!("/imports/{}", attention.import_id)
        }
        BridgeEvent::BatchCompleted(outcome) => format!("/imports/{}", outcome.import_id),
        BridgeEvent::CompanySyncPaused(_) => format!("/companies/{company_slug}/bayzat"),
        // The dashboard's "Failed records requiring attention", with a retry per batch.
        BridgeEvent::DeliveriesFailed(_) => "/#attention".to_owned(),
        BridgeEvent::ClockSilent(_) | BridgeEvent::ClockPendingApproval(_) => "/clocks".to_owned(),
    };
    format!("{console}{path}")
}

/// A time on the company's wall clock, with the zone's name: `2026-12-05 14:03 (Asia/Dubai)`.
pub fn local_time(at: DateTime<Utc>, timezone: Tz) -> String {
    format!(
        "{} ({})",
        at.with_timezone(&timezone).format("%Y-%m-%d %H:%M"),
        timezone.name()
    )
}

/// One event as a mail lists it.
struct Item {
    title: String,
    detail: String,
    at: String,
    link: String,
}

fn item(language: Language, company: &CompanyFacts, console: &str, event: &BridgeEventV1) -> Item {
    let (title, detail) = describe(language, company.timezone, &event.event);
    Item {
        title,
        detail,
        at: local_time(event.occurred_at, company.timezone),
        link: fix_link(console, &company.slug, &event.event),
    }
}

/// The title and the sentence that says what happened.
fn describe(language: Language, timezone: Tz, event: &BridgeEvent) -> (String, String) {
    use Language::{Ar, En};
    match (event, language) {
        (BridgeEvent::ImportCompleted(f), En) => (
            format!("Import #{} completed", f.import_id),
            format!(
                "{}: {} rows, {} valid, {} invalid, {} skipped; {} new punches on their way to Bayzat.",
                f.filename, f.total_rows, f.valid_rows, f.invalid_rows, f.skipped_rows, f.new_punches
            ),
        ),
        (BridgeEvent::ImportCompleted(f), Ar) => (
            format!("اكتمل الاستيراد رقم {}", f.import_id),
            format!(
                "{}: الصفوف: {}، الصالحة: {}، غير الصالحة: {}، المتخطاة: {}؛ البصمات الجديدة المرسلة إلى Bayzat: {}.",
                f.filename, f.total_rows, f.valid_rows, f.invalid_rows, f.skipped_rows, f.new_punches
            ),
        ),
        (BridgeEvent::ImportFailed(f), En) => (
            format!("Import #{} failed", f.import_id),
            format!("{}: {}", f.filename, f.error),
        ),
        (BridgeEvent::ImportFailed(f), Ar) => (
            format!("فشل الاستيراد رقم {}", f.import_id),
            format!("{}: {}", f.filename, f.error),
        ),
        (BridgeEvent::ImportNeedsAttention(a), _) => {
            let mut parts = Vec::new();
            if !a.unmapped_departments.is_empty() {
                let names = a.unmapped_departments.join(language.pick(", ", "، "));
                parts.push(match language {
                    En => format!("departments no company claims: {names}"),
                    Ar => format!("أقسام لا تتبع أي شركة: {names}"),
                });
            }
            if a.unknown_employees > 0 {
                parts.push(match language {
                    En => format!(
                        "{} employee ids the directory does not know",
                        a.unknown_employees
                    ),
                    Ar => format!(
                        "أرقام موظفين غير معروفة في الدليل: {}",
                        a.unknown_employees
                    ),
                });
            }
            if let Some(reason) = &a.held_reason {
                parts.push(match language {
                    En => format!("held ({reason}) until it is released"),
                    Ar => format!("الاستيراد معلّق ({reason}) حتى يُفرج عنه"),
                });
            }
            let title = match language {
                En => format!("Import #{} needs attention", a.import_id),
                Ar => format!("الاستيراد رقم {} يحتاج إلى مراجعة", a.import_id),
            };
            let parts = parts.join(language.pick("; ", "؛ "));
            (title, format!("{}: {parts}.", a.filename))
        }
        (BridgeEvent::CompanySyncPaused(p), En) => (
            "Bayzat sync paused".to_owned(),
            format!(
                "Bayzat refused the company's key at {}; nothing is sent to Bayzat until a new key is saved. Bayzat said: {}",
                local_time(p.since, timezone),
                p.reason
            ),
        ),
        (BridgeEvent::CompanySyncPaused(p), Ar) => (
            "توقفت المزامنة مع Bayzat".to_owned(),
            format!(
                "رفض Bayzat مفتاح الشركة في {}؛ لن يُرسل شيء إلى Bayzat حتى يُحفظ مفتاح جديد. رد Bayzat: {}",
                local_time(p.since, timezone),
                p.reason
            ),
        ),
        (BridgeEvent::DeliveriesFailed(d), En) => (
            format!("{} punches failed", d.count),
            format!(
                "Their retries ran out; retry their batches in the console. Last error: {}",
                d.last_error
            ),
        ),
        (BridgeEvent::DeliveriesFailed(d), Ar) => (
            format!("بصمات فشل إرسالها: {}", d.count),
            format!(
                "انتهت محاولات إعادة الإرسال؛ أعد محاولة دفعاتها من لوحة التحكم. آخر خطأ: {}",
                d.last_error
            ),
        ),
        (BridgeEvent::BatchCompleted(b), En) => (
            if b.status == "completed" {
                format!("Delivery of import #{} completed", b.import_id)
            } else {
                format!("Delivery of import #{} finished with failures", b.import_id)
            },
            format!(
                "{} of {} punches delivered, {} failed, {} rejected, {} cancelled.",
                b.delivered, b.total, b.failed, b.rejected, b.cancelled
            ),
        ),
        (BridgeEvent::BatchCompleted(b), Ar) => (
            if b.status == "completed" {
                format!("اكتمل إرسال الاستيراد رقم {}", b.import_id)
            } else {
                format!("انتهى إرسال الاستيراد رقم {} مع إخفاقات", b.import_id)
            },
            format!(
                "المرسلة: {} من {}، الفاشلة: {}، المرفوضة: {}، الملغاة: {}.",
                b.delivered, b.total, b.failed, b.rejected, b.cancelled
            ),
        ),
        (BridgeEvent::ClockSilent(c), En) => (
            format!("Clock {} is silent", c.serial_number),
            match c.last_seen_at {
                Some(at) => format!("It has not called since {}.", local_time(at, timezone)),
                None => "It has not called yet.".to_owned(),
            },
        ),
        (BridgeEvent::ClockSilent(c), Ar) => (
            format!("جهاز البصمة {} متوقف عن الاتصال", c.serial_number),
            match c.last_seen_at {
                Some(at) => format!("لم يتصل منذ {}.", local_time(at, timezone)),
                None => "لم يتصل بعد.".to_owned(),
            },
        ),
        (BridgeEvent::ClockPendingApproval(c), En) => (
            format!("Clock {} waits for approval", c.serial_number),
            format!(
                "A clock nobody registered called{}; approve it so its punches are imported.",
                c.address
                    .as_deref()
                    .map(|a| format!(" from {a}"))
                    .unwrap_or_default()
            ),
        ),
        (BridgeEvent::ClockPendingApproval(c), Ar) => (
            format!("جهاز البصمة {} بانتظار الموافقة", c.serial_number),
            format!(
                "اتصل جهاز بصمة غير مسجل{}؛ وافق عليه لتُستورد بصماته.",
                c.address
                    .as_deref()
                    .map(|a| format!(" من العنوان {a}"))
                    .unwrap_or_default()
            ),
        ),
    }
}

/// Escapes text for HTML (element content and quoted attribute values).
pub fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

fn subject_prefix(language: Language) -> &'static str {
    language.pick("[Attendance bridge] ", "[جسر الحضور] ")
}

/// The HTML document around `body` (already escaped), in the language's direction.
fn html_document(language: Language, subject: &str, body: &str) -> String {
    let (lang, dir) = (language.code(), language.dir());
    format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\" dir=\"{dir}\">\n<head><meta charset=\"utf-8\"><title>{}</title></head>\n\
         <body dir=\"{dir}\" style=\"font-family: sans-serif; line-height: 1.5\">\n{body}</body>\n</html>\n",
        escape_html(subject)
    )
}

/// The mail to a contact with `events` of `company` (one, or a digest of several), of which the
/// first are listed; `not_listed` more were folded in without a line of their own.
pub fn events_mail(
    language: Language,
    company: &CompanyFacts,
    console: &str,
    events: &[BridgeEventV1],
    not_listed: usize,
) -> Rendered {
    let name = company.name(language);
    let total = events.len() + not_listed;
    let items: Vec<Item> = events
        .iter()
        .map(|event| item(language, company, console, event))
        .collect();
    let subject = match (items.as_slice(), language) {
        ([only], _) if not_listed == 0 => {
            format!("{}{name}: {}", subject_prefix(language), only.title)
        }
        (_, Language::En) => format!("{}{name}: {total} events", subject_prefix(language)),
        (_, Language::Ar) => format!("{}{name}: أحداث جديدة ({total})", subject_prefix(language)),
    };
    let heading = match (total, language) {
        (1, Language::En) => format!("{name}: an event to look at"),
        (1, Language::Ar) => format!("{name}: حدث يحتاج إلى اطلاعك"),
        (_, Language::En) => format!("{name}: {total} events since the last mail"),
        (_, Language::Ar) => format!("{name}: أحداث منذ آخر رسالة ({total})"),
    };
    let open = language.pick("Open in the console", "افتحه في لوحة التحكم");
    let more = (not_listed > 0).then(|| match language {
        Language::En => format!("… and {not_listed} more events; the console shows them all."),
        Language::Ar => format!("… وأحداث أخرى ({not_listed})؛ تعرضها لوحة التحكم كلها."),
    });
    let footer = match language {
        Language::En => format!(
            "You get this mail as a notification contact of {name}. Events that follow each other closely are collected into one mail."
        ),
        Language::Ar => format!(
            "تصلك هذه الرسالة لأنك من جهات الإشعار لشركة {name}. تُجمع الأحداث المتقاربة في رسالة واحدة."
        ),
    };

    let mut text = format!("{heading}\n\n");
    for item in &items {
        let _ = write!(
            text,
            "• {} — {}\n  {}\n  {open}: {}\n\n",
            item.at, item.title, item.detail, item.link
        );
    }
    if let Some(more) = &more {
        let _ = write!(text, "{more}\n\n");
    }
    text.push_str(&footer);
    text.push('\n');

    let mut body = format!(
        "<h1 style=\"font-size: 1.2em\">{}</h1>\n<ul>\n",
        escape_html(&heading)
    );
    for item in &items {
        let _ = write!(
            body,
            "<li><p><strong>{}</strong> — <span dir=\"ltr\">{}</span></p>\n<p>{}</p>\n<p><a href=\"{}\">{}</a></p></li>\n",
            escape_html(&item.title),
            escape_html(&item.at),
            escape_html(&item.detail),
            escape_html(&item.link),
            escape_html(open),
        );
    }
    body.push_str("</ul>\n");
    if let Some(more) = &more {
        let _ = writeln!(body, "<p>{}</p>", escape_html(more));
    }
    let _ = writeln!(
        body,
        "<p style=\"color: #555\">{}</p>",
        escape_html(&footer)
    );
    Rendered {
        html: html_document(language, &subject, &body),
        subject,
        text,
    }
}

/// The mail `POST .../notification-contacts/test` sends: which events the contact gets.
pub fn test_mail(
    language: Language,
    company: &CompanyFacts,
    console: &str,
    event_types: &[String],
) -> Rendered {
    let name = company.name(language);
    let subject = match language {
        Language::En => format!("{}{name}: test mail", subject_prefix(language)),
        Language::Ar => format!("{}{name}: رسالة تجريبية", subject_prefix(language)),
    };
    let intro = match language {
        Language::En => {
            format!("This is a test. You are a notification contact of {name} and get mail about:")
        }
        Language::Ar => {
            format!("هذه رسالة تجريبية. أنت من جهات الإشعار لشركة {name} وتصلك رسائل عن:")
        }
    };
    let names: Vec<&str> = event_types.iter().map(|t| type_name(t, language)).collect();
    let console = console.trim_end_matches('/');
    let open = language.pick("The console", "لوحة التحكم");
    let mut text = format!("{intro}\n\n");
    for name in &names {
        let _ = writeln!(text, "• {name}");
    }
    let _ = writeln!(text, "\n{open}: {console}/");
    let mut body = format!("<p>{}</p>\n<ul>\n", escape_html(&intro));
    for name in &names {
        let _ = writeln!(body, "<li>{}</li>", escape_html(name));
    }
    let _ = writeln!(
        body,
        "</ul>\n<p><a href=\"{}/\">{}</a></p>",
        escape_html(console),
        escape_html(open)
    );
    Rendered {
        html: html_document(language, &subject, &body),
        subject,
        text,
    }
}

/// `url` as a mail may show it: scheme, host, port and path only (no credentials, query or
/// fragment, where a token could hide).
pub fn shown_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(parsed) => {
            let host = parsed.host_str().unwrap_or_default();
            let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!("{}://{host}{port}{}", parsed.scheme(), parsed.path())
        }
        Err(_) => "(an unreadable URL)".to_owned(),
    }
}

/// The one-off mail to the owner of a webhook endpoint the bridge disabled (English).
pub fn webhook_disabled_mail(endpoint_url: &str, reason: &str) -> Rendered {
    let url = shown_url(endpoint_url);
    let subject = format!(
        "{}Your webhook endpoint was disabled",
        subject_prefix(Language::En)
    );
    let lines = [
        format!("The attendance bridge disabled your webhook endpoint {url}."),
        format!("Why: {reason}"),
        "No more events are sent to it until it is enabled again. Fix the receiver, then enable the endpoint through the webhooks API (or ask an admin of the bridge)."
            .to_owned(),
    ];
    let text = format!("{}\n", lines.join("\n\n"));
    let body: String = lines
        .iter()
        .map(|line| format!("<p>{}</p>\n", escape_html(line)))
        .collect();
    Rendered {
        html: html_document(Language::En, &subject, &body),
        subject,
        text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use domain::{
        BatchId, BatchOutcome, ClockFacts, CompanyId, FailedDeliveries, ImportAttention,
        ImportFacts, ImportFailure, ImportId, SyncPaused,
    };

    const CONSOLE: &str = "http://console.example:8080/";

    fn company() -> CompanyFacts {
        CompanyFacts {
            slug: "advline".into(),
            name_en: "Advanced Line".into(),
            name_ar: Some("الخط المتقدم".into()),
            timezone: chrono_tz::Asia::Dubai,
        }
    }

    fn at(hour: u32, minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 5, hour, minute, 0).unwrap()
    }

    fn event(event: BridgeEvent) -> BridgeEventV1 {
        BridgeEventV1::new("test", Some(CompanyId(1)), at(10, 3), event)
    }

    fn paused(reason: &str) -> BridgeEventV1 {
        event(BridgeEvent::CompanySyncPaused(SyncPaused {
            reason: reason.into(),
            since: at(10, 2),
        }))
    }

    fn every_event() -> Vec<BridgeEventV1> {
        let clock = ClockFacts {
            clock_id: 4,
            serial_number: "CQZ7".into(),
            last_seen_at: Some(at(6, 0)),
            address: Some("10.1.2.3".into()),
        };
        vec![
            event(BridgeEvent::ImportCompleted(ImportFacts {
                import_id: ImportId(12),
                filename: "nov.csv".into(),
                total_rows: 10,
                valid_rows: 8,
                invalid_rows: 1,
                skipped_rows: 1,
                new_punches: 14,
            })),
            event(BridgeEvent::ImportFailed(ImportFailure {
                import_id: ImportId(13),
                filename: "bad.csv".into(),
                error: "no_header".into(),
            })),
            event(BridgeEvent::ImportNeedsAttention(ImportAttention {
                import_id: ImportId(14),
                filename: "dec.csv".into(),
                unmapped_departments: vec!["Marketing".into(), "Sales".into()],
                unknown_employees: 3,
                held_reason: Some("strict".into()),
            })),
            paused("401 Unauthorized"),
            event(BridgeEvent::DeliveriesFailed(FailedDeliveries {
                count: 7,
                batch_ids: vec![BatchId(uuid::Uuid::nil())],
                last_error: "HTTP 500".into(),
            })),
            event(BridgeEvent::BatchCompleted(BatchOutcome {
                batch_id: BatchId(uuid::Uuid::nil()),
                import_id: ImportId(12),
                status: "failed".into(),
                total: 14,
                delivered: 12,
                failed: 1,
                rejected: 1,
                cancelled: 0,
            })),
            event(BridgeEvent::ClockSilent(clock.clone())),
            event(BridgeEvent::ClockPendingApproval(clock)),
        ]
    }

    #[test]
    fn each_event_links_to_the_console_page_that_deals_with_it() {
        let links: Vec<String> = every_event()
            .iter()
            .map(|e| fix_link(CONSOLE, "advline", &e.event))
            .collect();
        assert_eq!(
            links,
            [
                "http://console.example:8080/imports/12",
                "http://console.example:8080/imports/13",
                "http://console.example:8080/imports/14",
                "http://console.example:8080/companies/advline/bayzat",
                "http://console.example:8080/#attention",
                "http://console.example:8080/imports/12",
                "http://console.example:8080/clocks",
                "http://console.example:8080/clocks",
            ]
        );
        // Every type has a name in both languages.
        for t in BridgeEvent::TYPES {
            for language in [Language::En, Language::Ar] {
                assert_ne!(type_name(t, language), t, "{t}");
            }
        }
    }

    #[test]
    fn one_event_is_a_mail_with_its_title_time_in_the_company_zone_and_link() {
        let mail = events_mail(Language::En, &company(), CONSOLE, &[paused("401")], 0);
        assert_eq!(
            mail.subject,
            "[Attendance bridge] Advanced Line: Bayzat sync paused"
        );
        // 10:03 UTC is 14:03 in Dubai.
        assert!(
            mail.text.contains("2026-12-05 14:03 (Asia/Dubai)"),
            "{}",
            mail.text
        );
        assert!(mail.text.contains("at 2026-12-05 14:02 (Asia/Dubai)"));
        assert!(mail
            .text
            .contains("Open in the console: http://console.example:8080/companies/advline/bayzat"));
        assert!(mail.html.contains("<html lang=\"en\" dir=\"ltr\">"));
        assert!(mail
            .html
            .contains("href=\"http://console.example:8080/companies/advline/bayzat\""));
    }

    #[test]
    fn arabic_mails_are_in_arabic_right_to_left() {
        let mail = events_mail(Language::Ar, &company(), CONSOLE, &[paused("401")], 0);
        assert_eq!(
            mail.subject,
            "[جسر الحضور] الخط المتقدم: توقفت المزامنة مع Bayzat"
        );
        assert!(mail.html.contains("<html lang=\"ar\" dir=\"rtl\">"));
        assert!(mail.html.contains("<body dir=\"rtl\""));
        assert!(mail.text.contains("2026-12-05 14:03 (Asia/Dubai)"));
        assert!(mail.text.contains("افتحه في لوحة التحكم"));
        // Without an Arabic name, the English one.
        let unnamed = CompanyFacts {
            name_ar: None,
            ..company()
        };
        let mail = events_mail(Language::Ar, &unnamed, CONSOLE, &[paused("401")], 0);
        assert!(mail.subject.contains("Advanced Line"));
    }

    #[test]
    fn several_events_are_one_digest_listing_each() {
        let events = every_event();
        for language in [Language::En, Language::Ar] {
            let mail = events_mail(language, &company(), CONSOLE, &events, 0);
            let expected_subject = match language {
                Language::En => "[Attendance bridge] Advanced Line: 8 events",
                Language::Ar => "[جسر الحضور] الخط المتقدم: أحداث جديدة (8)",
            };
            assert_eq!(mail.subject, expected_subject);
            assert_eq!(mail.text.matches("• ").count(), 8, "{}", mail.text);
            assert_eq!(mail.html.matches("<li>").count(), 8);
            for event in &events {
                let link = fix_link(CONSOLE, "advline", &event.event);
                assert!(mail.text.contains(&link), "{link}");
            }
        }
        let mail = events_mail(Language::En, &company(), CONSOLE, &events[..2], 5);
        assert_eq!(mail.subject, "[Attendance bridge] Advanced Line: 7 events");
        assert!(mail.text.contains("… and 5 more events"));
    }

    #[test]
    fn the_facts_of_each_event_are_told() {
        let mail = events_mail(Language::En, &company(), CONSOLE, &every_event(), 0);
        for expected in [
            "Import #12 completed",
            "nov.csv: 10 rows, 8 valid, 1 invalid, 1 skipped; 14 new punches",
            "Import #13 failed",
            "bad.csv: no_header",
            "departments no company claims: Marketing, Sales; 3 employee ids the directory does not know; held (strict)",
            "7 punches failed",
            "Last error: HTTP 500",
            "Delivery of import #12 finished with failures",
            "12 of 14 punches delivered, 1 failed, 1 rejected, 0 cancelled.",
            "Clock CQZ7 is silent",
            "It has not called since 2026-12-05 10:00 (Asia/Dubai).",
            "A clock nobody registered called from 10.1.2.3",
        ] {
            assert!(mail.text.contains(expected), "{expected}:\n{}", mail.text);
        }
    }

    #[test]
    fn what_events_carry_is_escaped_in_html() {
        let mail = events_mail(
            Language::En,
            &company(),
            CONSOLE,
            &[paused("<script>alert('x')</script> & more")],
            0,
        );
        assert!(!mail.html.contains("<script>"));
        assert!(mail
            .html
            .contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more"));
        assert!(mail.text.contains("<script>alert('x')</script> & more"));
    }

    #[test]
    fn a_secret_is_masked_everywhere() {
        let mail = events_mail(
            Language::En,
            &company(),
            CONSOLE,
            &[paused("invalid key sk-live-1234")],
            0,
        )
        .masking("sk-live-1234");
        for part in [&mail.subject, &mail.text, &mail.html] {
            assert!(!part.contains("sk-live-1234"));
        }
        assert!(mail.text.contains("invalid key ••••"));
        // An empty "secret" masks nothing.
        let same = events_mail(Language::En, &company(), CONSOLE, &[paused("x")], 0);
        assert_eq!(same.clone().masking(""), same);
    }

    #[test]
    fn the_test_mail_names_the_events_in_the_contacts_language() {
        let types = vec!["company.sync_paused".to_owned(), "clock.silent".to_owned()];
        let en = test_mail(Language::En, &company(), CONSOLE, &types);
        assert_eq!(en.subject, "[Attendance bridge] Advanced Line: test mail");
        assert!(en
            .text
            .contains("• Bayzat sync paused (key refused)\n• Silent clocks"));
        let ar = test_mail(Language::Ar, &company(), CONSOLE, &types);
        assert_eq!(ar.subject, "[جسر الحضور] الخط المتقدم: رسالة تجريبية");
        assert!(ar.text.contains("• أجهزة بصمة متوقفة عن الاتصال"));
        assert!(ar.html.contains("dir=\"rtl\""));
    }

    #[test]
    fn the_webhook_mail_shows_the_url_without_credentials_or_query() {
        let mail = webhook_disabled_mail(
            "https://user:pw@hooks.example.com:8443/in?token=abc#x",
            "every attempt failed for 3 days",
        );
        assert_eq!(
            mail.subject,
            "[Attendance bridge] Your webhook endpoint was disabled"
        );
        assert!(mail
            .text
            .contains("your webhook endpoint https://hooks.example.com:8443/in."));
        assert!(mail.text.contains("Why: every attempt failed for 3 days"));
        for part in [&mail.text, &mail.html] {
            assert!(!part.contains("pw") && !part.contains("abc"), "{part}");
        }
    }
}
