//! English and Arabic. The English text is the key (as gettext does), so a page reads as it
//! renders and a phrase missing from the Arabic table still shows, in English.

use std::collections::HashMap;
use std::sync::LazyLock;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Lang {
    #[default]
    En,
    Ar,
}

impl Lang {
    pub fn from_code(code: &str) -> Self {
        match code {
            "ar" => Lang::Ar,
            _ => Lang::En,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ar => "ar",
        }
    }

    /// The page's writing direction.
    pub fn dir(self) -> &'static str {
        match self {
            Lang::En => "ltr",
            Lang::Ar => "rtl",
        }
    }

    /// `text` in this language.
    pub fn t(self, text: &'static str) -> &'static str {
        match self {
            Lang::En => text,
            Lang::Ar => ARABIC.get(text).copied().unwrap_or(text),
        }
    }
}

static ARABIC: LazyLock<HashMap<&'static str, &'static str>> =
    LazyLock::new(|| AR.iter().copied().collect());

const AR: &[(&str, &str)] = &[
    ("Attendance console", "لوحة الحضور"),
    ("Dashboard", "لوحة المتابعة"),
    ("Upload", "رفع ملف"),
    ("Companies", "الشركات"),
    ("Sign out", "تسجيل الخروج"),
    ("Signed in as", "مسجل الدخول باسم"),
    ("Language", "اللغة"),
    ("Imports", "عمليات الاستيراد"),
    ("Import", "استيراد"),
    ("File", "الملف"),
    ("Status", "الحالة"),
    ("Uploaded", "تاريخ الرفع"),
    ("Uploaded by", "رفعه"),
    ("Rows", "الصفوف"),
    ("Valid", "صالح"),
    ("Invalid", "غير صالح"),
    ("Skipped", "متجاوز"),
    ("Sync", "المزامنة"),
    ("Company", "الشركة"),
    ("Company sync health", "حالة مزامنة الشركات"),
    ("State", "الحالة"),
    ("Pending", "قيد الانتظار"),
    ("Retrying", "إعادة المحاولة"),
    ("Failed", "فشل"),
    ("Rejected", "مرفوض"),
    ("Delivered", "تم التسليم"),
    ("Last success", "آخر نجاح"),
    ("Sync now", "مزامنة الآن"),
    ("Retry", "إعادة المحاولة"),
    (
        "Failed records requiring attention",
        "سجلات فاشلة تحتاج إلى متابعة",
    ),
    ("No failed records.", "لا توجد سجلات فاشلة."),
    ("Bayzat calls", "طلبات Bayzat"),
    ("Deliveries per day", "التسليمات يومياً"),
    ("Employee", "الموظف"),
    ("Time", "الوقت"),
    ("Reason", "السبب"),
    ("active", "نشطة"),
    ("paused_auth", "متوقفة (مفتاح مرفوض)"),
    ("disabled", "معطلة"),
    ("Check only (dry run)", "تحقق فقط (تجربة)"),
    (
        "Strict: queue nothing if any row is invalid",
        "صارم: لا ترسل شيئاً إذا كان أي صف غير صالح",
    ),
    ("Date order", "ترتيب التاريخ"),
    ("Decided by the file (day first)", "حسب الملف (اليوم أولاً)"),
    ("Day first (DD/MM/YYYY)", "اليوم أولاً"),
    ("Month first (MM/DD/YYYY)", "الشهر أولاً"),
    ("Check the file", "تحقق من الملف"),
    ("Import the file", "استورد الملف"),
    ("Validation report", "تقرير التحقق"),
    (
        "Nothing was stored or queued.",
        "لم يتم تخزين أو إرسال أي شيء.",
    ),
    ("Unmapped departments", "أقسام غير مرتبطة"),
    ("Unknown employees", "موظفون غير معروفين"),
    ("Map to company", "ربط بالشركة"),
    ("Map and reprocess", "اربط وأعد المعالجة"),
    ("Add to directory", "أضف إلى الدليل"),
    ("Add and reprocess", "أضف وأعد المعالجة"),
    ("Reprocess", "إعادة المعالجة"),
    ("Release", "إطلاق"),
    ("Cancel import", "إلغاء الاستيراد"),
    ("Progress", "التقدم"),
    ("Sync finished", "اكتملت المزامنة"),
    ("Syncing", "جارٍ المزامنة"),
    ("Batches", "الدفعات"),
    ("Records", "السجلات"),
    ("Filter", "تصفية"),
    ("Outcome", "النتيجة"),
    ("Error", "الخطأ"),
    ("Delivery", "التسليم"),
    ("From", "من"),
    ("To", "إلى"),
    ("Any", "الكل"),
    ("Export CSV", "تصدير CSV"),
    ("Line", "السطر"),
    ("Department", "القسم"),
    ("Date", "التاريخ"),
    ("Punches", "البصمات"),
    ("Errors", "الأخطاء"),
    ("Previous", "السابق"),
    ("Next", "التالي"),
    ("Page", "صفحة"),
    ("of", "من"),
    ("Name", "الاسم"),
    ("Time zone", "المنطقة الزمنية"),
    ("Report names", "أسماء التقارير"),
    ("Add", "إضافة"),
    ("Remove", "حذف"),
    ("Employees", "الموظفون"),
    ("Bayzat", "Bayzat"),
    ("Bayzat configuration", "إعدادات Bayzat"),
    ("API key", "مفتاح الواجهة"),
    ("Stored key", "المفتاح المحفوظ"),
    ("Show", "إظهار"),
    ("Hide", "إخفاء"),
    ("API URL", "عنوان الواجهة"),
    ("Enabled", "مفعل"),
    ("Sync frequency", "تكرار المزامنة"),
    ("manual", "يدوي"),
    ("hourly", "كل ساعة"),
    ("daily", "يومي"),
    ("Daily at", "يومياً عند"),
    ("Save", "حفظ"),
    ("Test connection", "اختبار الاتصال"),
    ("Last sync", "آخر مزامنة"),
    ("Audit history", "سجل التدقيق"),
    ("Who", "من"),
    ("What", "ماذا"),
    ("When", "متى"),
    ("Search", "بحث"),
    ("Upload employees (CSV)", "رفع الموظفين (CSV)"),
    ("Bayzat id", "معرف Bayzat"),
    ("Active", "نشط"),
    ("yes", "نعم"),
    ("no", "لا"),
    ("Saved.", "تم الحفظ."),
    (
        "The connection works: Bayzat accepted the key.",
        "الاتصال يعمل: قبل Bayzat المفتاح.",
    ),
    ("Bayzat refused the key.", "رفض Bayzat المفتاح."),
    ("Bayzat could not be reached.", "تعذر الوصول إلى Bayzat."),
    ("Bayzat answered unexpectedly.", "رد Bayzat بشكل غير متوقع."),
    (
        "Leave empty to keep the stored key.",
        "اتركه فارغاً للإبقاء على المفتاح المحفوظ.",
    ),
    ("none", "لا يوجد"),
    ("never", "أبداً"),
    ("Queued", "أضيف إلى قائمة الإرسال"),
    ("waiting for its schedule", "بانتظار موعدها"),
    ("held (company disabled)", "معلق (الشركة معطلة)"),
    ("Import details", "تفاصيل الاستيراد"),
    ("All", "الكل"),
    ("Duplicates", "مكررات"),
    ("Add company", "إضافة شركة"),
    ("Slug", "المعرف"),
    ("Name (English)", "الاسم (إنجليزي)"),
    ("Name (Arabic)", "الاسم (عربي)"),
    ("Could not load", "تعذر التحميل"),
    ("Warnings", "تحذيرات"),
    ("Held", "معلق"),
    ("Scheduled", "مجدول"),
    ("Sending", "قيد الإرسال"),
    ("Cancelled", "ملغى"),
    ("Total", "المجموع"),
    ("Mapped and reprocessed.", "تم الربط وإعادة المعالجة."),
    ("Added and reprocessed.", "تمت الإضافة وإعادة المعالجة."),
    ("Reprocessed.", "تمت إعادة المعالجة."),
    ("Released.", "تم الإطلاق."),
    ("Import cancelled.", "تم إلغاء الاستيراد."),
    ("Queued for sync now.", "أضيف للمزامنة الآن."),
    ("Queued for retry.", "أضيف لإعادة المحاولة."),
    ("Report names changed.", "تم تغيير أسماء التقارير."),
    ("Company added.", "تمت إضافة الشركة."),
    ("API usage", "استخدام الواجهة"),
    ("Bayzat calls (24 h)", "طلبات Bayzat (24 ساعة)"),
    ("429 answers (7 days)", "ردود 429 (7 أيام)"),
    ("Errors (7 days)", "الأخطاء (7 أيام)"),
    (
        "Latency p50 / p95 (24 h)",
        "زمن الاستجابة p50 / p95 (24 ساعة)",
    ),
    ("Upload a report", "رفع تقرير"),
    ("Sheet", "ورقة العمل"),
    ("First sheet with a report", "أول ورقة فيها تقرير"),
    ("Excel workbooks only", "لمصنفات Excel فقط"),
    ("File format", "صيغة الملف"),
    ("Excel workbook", "مصنف Excel"),
    ("sheet", "ورقة العمل"),
    ("Text file", "ملف نصي"),
    ("comma-separated", "مفصول بفواصل"),
    ("semicolon-separated", "مفصول بفواصل منقوطة"),
    ("tab-separated", "مفصول بعلامات جدولة"),
    ("with a byte-order mark", "مع علامة ترتيب البايتات"),
    ("Export XLSX", "تصدير XLSX"),
    (", ", "، "),
    ("Clocks", "أجهزة البصمة"),
    ("Clock", "جهاز البصمة"),
    ("No clock has called yet.", "لم يتصل أي جهاز بصمة بعد."),
    ("Serial number", "الرقم التسلسلي"),
    ("Last seen", "آخر اتصال"),
    ("Last punch", "آخر بصمة"),
    ("Punches today", "بصمات اليوم"),
    (
        "Company slugs, in the order a PIN is looked up",
        "معرّفات الشركات، بالترتيب الذي يُبحث به عن رقم الموظف",
    ),
    ("Approve", "اعتماد"),
    ("Disable", "تعطيل"),
    ("Invalid punches", "البصمات غير الصالحة"),
    ("No invalid punches.", "لا توجد بصمات غير صالحة."),
    ("Clock health", "حالة أجهزة البصمة"),
    ("approved", "معتمد"),
    ("pending", "بانتظار الاعتماد"),
    ("silent", "منقطع"),
    ("Silent clocks", "أجهزة منقطعة"),
    ("No such clock.", "لا يوجد جهاز بصمة بهذا الرقم."),
    (
        "Clock approved; its held punches are queued.",
        "تم اعتماد الجهاز؛ وأُدرجت بصماته المحتجزة في قائمة الإرسال.",
    ),
    (
        "Clock disabled; its uploads are refused.",
        "تم تعطيل الجهاز؛ وستُرفض بصماته المرسلة.",
    ),
    ("Notifications", "الإشعارات"),
    ("Notification contacts", "جهات الإشعار"),
    ("No notification contacts yet.", "لا توجد جهات إشعار بعد."),
    ("Email", "البريد الإلكتروني"),
    ("Events", "الأحداث"),
    ("Last mailed", "آخر رسالة"),
    ("Send test", "إرسال رسالة تجريبية"),
    (
        "Mails every contact of the company a test now.",
        "يرسل الآن رسالة تجريبية إلى كل جهات إشعار الشركة.",
    ),
    ("Add a contact", "إضافة جهة إشعار"),
    ("Test mail sent to", "أُرسلت الرسالة التجريبية إلى"),
    ("Test mail not sent to", "لم تُرسل الرسالة التجريبية إلى"),
    ("English", "الإنجليزية"),
    ("Arabic", "العربية"),
    ("Contact added.", "تمت إضافة جهة الإشعار."),
    ("Contact removed.", "تم حذف جهة الإشعار."),
    ("Import completed", "اكتمل الاستيراد"),
    ("Import failed", "فشل الاستيراد"),
    ("Import needs attention", "استيراد يحتاج إلى متابعة"),
    ("Company sync paused", "توقفت مزامنة الشركة"),
    ("Deliveries failed", "فشلت عمليات التسليم"),
    ("Batch completed", "اكتملت الدفعة"),
    ("Clock silent", "انقطع جهاز البصمة"),
    ("Clock pending approval", "جهاز بصمة بانتظار الاعتماد"),
    ("Other event", "حدث آخر"),
    ("Webhooks", "خطافات الويب"),
    ("Webhook", "خطاف الويب"),
    ("No webhook endpoint yet.", "لا توجد نقاط استقبال بعد."),
    ("Register an endpoint", "تسجيل نقطة استقبال"),
    ("Register", "تسجيل"),
    ("Description", "الوصف"),
    ("Owner's email", "بريد المسؤول"),
    (
        "Company slugs; empty: every company",
        "معرّفات الشركات؛ فارغ: كل الشركات",
    ),
    ("All companies", "كل الشركات"),
    ("Disabled", "معطل"),
    ("Enable", "تفعيل"),
    ("Failing since", "يفشل منذ"),
    ("Rotate secret", "تغيير السر"),
    ("Delete", "حذف"),
    ("Deliveries", "عمليات الإرسال"),
    ("Recent deliveries", "آخر عمليات الإرسال"),
    ("Nothing sent yet.", "لم يُرسل شيء بعد."),
    ("Event", "الحدث"),
    ("Attempts", "المحاولات"),
    ("Last status", "آخر حالة"),
    ("Last error", "آخر خطأ"),
    ("Replay", "إعادة الإرسال"),
    ("replay", "إعادة إرسال"),
    ("Signing secret", "سر التوقيع"),
    (
        "Copy this secret now: it is not shown again.",
        "انسخ هذا السر الآن: لن يظهر مرة أخرى.",
    ),
    ("Endpoint registered.", "تم تسجيل نقطة الاستقبال."),
    (
        "Secret rotated; the previous one keeps signing for a day.",
        "تم تغيير السر؛ ويبقى السابق صالحاً للتوقيع يوماً واحداً.",
    ),
    ("Endpoint enabled.", "تم تفعيل نقطة الاستقبال."),
    ("Endpoint disabled.", "تم تعطيل نقطة الاستقبال."),
    ("Endpoint deleted.", "تم حذف نقطة الاستقبال."),
    ("Replay queued.", "أُدرجت إعادة الإرسال في قائمة الانتظار."),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arabic_has_a_translation_for_the_navigation_and_falls_back_to_english() {
        assert_eq!(Lang::Ar.t("Dashboard"), "لوحة المتابعة");
        assert_eq!(Lang::En.t("Dashboard"), "Dashboard");
        assert_eq!(Lang::Ar.t("no such phrase"), "no such phrase");
        assert_eq!(Lang::Ar.dir(), "rtl");
        assert_eq!(Lang::from_code("ar"), Lang::Ar);
        assert_eq!(Lang::from_code("fr"), Lang::En);
    }

    /// Every literal the pages translate, `t("...")`, has its Arabic.
    #[test]
    fn every_phrase_the_pages_translate_has_arabic() {
        let sources = [
            include_str!("views/layout.rs"),
            include_str!("views/dashboard.rs"),
            include_str!("views/imports.rs"),
            include_str!("views/companies.rs"),
            include_str!("views/clocks.rs"),
            include_str!("views/notifications.rs"),
            include_str!("views/webhooks.rs"),
            include_str!("pages/notifications.rs"),
            include_str!("pages/webhooks.rs"),
            include_str!("pages/clocks.rs"),
            include_str!("pages/sign_in.rs"),
            include_str!("pages/overview.rs"),
            include_str!("pages/upload.rs"),
            include_str!("pages/import_details.rs"),
            include_str!("pages/companies.rs"),
            include_str!("pages/bayzat.rs"),
            include_str!("pages/mod.rs"),
        ];
        let mut missing = Vec::new();
        for source in sources {
            for (start, _) in source.match_indices("t(\"") {
                let rest = &source[start + 3..];
                let phrase = &rest[..rest.find('"').unwrap()];
                if !ARABIC.contains_key(phrase) {
                    missing.push(phrase.to_owned());
                }
            }
        }
        // Phrases reached through a table: event types, delivery states, languages.
        for phrase in crate::views::webhooks::labels() {
            if !ARABIC.contains_key(phrase) {
                missing.push(phrase.to_owned());
            }
        }
        missing.sort();
        missing.dedup();
        assert!(missing.is_empty(), "no Arabic for {missing:?}");
    }

    #[test]
    fn every_phrase_appears_once() {
        let mut seen = std::collections::HashSet::new();
        for (en, _) in AR {
            assert!(seen.insert(en), "{en} twice");
        }
    }
}
