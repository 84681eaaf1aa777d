//! The `config` schema, as diesel sees it (see migrations/config).

diesel::table! {
    config.companies (id) {
        id -> Int8,
        slug -> Text,
        name_en -> Text,
        name_ar -> Nullable<Text>,
        timezone -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    config.report_names (id) {
        id -> Int8,
        company_id -> Int8,
        name -> Text,
        normalized -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    config.employees (company_id, employee_id) {
        company_id -> Int8,
        employee_id -> Text,
        name -> Text,
        bayzat_emp_id -> Nullable<Text>,
        active -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    config.bayzat_configs (company_id) {
        company_id -> Int8,
        api_key -> Nullable<Text>,
        api_key_mask -> Nullable<Text>,
        key_updated_at -> Nullable<Timestamptz>,
        api_url -> Text,
        is_enabled -> Bool,
        sync_frequency -> Text,
        daily_at -> Nullable<Time>,
        last_sync_at -> Nullable<Timestamptz>,
        settings -> Jsonb,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    config.audit_log (id) {
        id -> Int8,
        at -> Timestamptz,
        service -> Text,
        actor -> Text,
        action -> Text,
        company_id -> Nullable<Int8>,
        target -> Nullable<Text>,
        details -> Jsonb,
        message_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    config.directory_version (singleton) {
        singleton -> Bool,
        version -> Int8,
    }
}

diesel::table! {
    config.webhook_endpoints (id) {
        id -> Int8,
        url -> Text,
        description -> Text,
        event_types -> Array<Text>,
        company_ids -> Nullable<Array<Int8>>,
        owner -> Text,
        owner_email -> Nullable<Text>,
        enabled -> Bool,
        disabled_reason -> Nullable<Text>,
        failing_since -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    config.webhook_secrets (id) {
        id -> Int8,
        endpoint_id -> Int8,
        secret -> Text,
        created_at -> Timestamptz,
        expires_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    config.webhook_messages (id) {
        id -> Int8,
        endpoint_id -> Int8,
        event_id -> Uuid,
        event_type -> Text,
        company_id -> Nullable<Int8>,
        payload -> Text,
        state -> Text,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        last_status -> Nullable<Int4>,
        last_error -> Nullable<Text>,
        delivered_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        replay_pending -> Bool,
    }
}

diesel::table! {
    config.webhook_attempts (id) {
        id -> Int8,
        message_id -> Int8,
        attempted_at -> Timestamptz,
        status -> Nullable<Int4>,
        latency_ms -> Int4,
        error -> Nullable<Text>,
        replay -> Bool,
    }
}

diesel::joinable!(webhook_secrets -> webhook_endpoints (endpoint_id));
diesel::joinable!(webhook_messages -> webhook_endpoints (endpoint_id));
diesel::joinable!(webhook_attempts -> webhook_messages (message_id));
diesel::allow_tables_to_appear_in_same_query!(
    webhook_endpoints,
    webhook_secrets,
    webhook_messages,
    webhook_attempts
);

diesel::joinable!(report_names -> companies (company_id));
diesel::joinable!(employees -> companies (company_id));
diesel::joinable!(bayzat_configs -> companies (company_id));
diesel::allow_tables_to_appear_in_same_query!(companies, report_names, employees, bayzat_configs);

diesel::table! {
    config.notification_contacts (id) {
        id -> Int8,
        company_id -> Int8,
        email -> Text,
        language -> Text,
        event_types -> Array<Text>,
        last_mailed_at -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        failures -> Int4,
        retry_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    config.notification_mails (id) {
        id -> Int8,
        contact_id -> Int8,
        event_id -> Uuid,
        event_type -> Text,
        occurred_at -> Timestamptz,
        event -> Jsonb,
        created_at -> Timestamptz,
        done_at -> Nullable<Timestamptz>,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    config.direct_mails (id) {
        id -> Int8,
        email -> Text,
        kind -> Text,
        details -> Jsonb,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        last_error -> Nullable<Text>,
        created_at -> Timestamptz,
        done_at -> Nullable<Timestamptz>,
    }
}

diesel::joinable!(notification_contacts -> companies (company_id));
diesel::joinable!(notification_mails -> notification_contacts (contact_id));
diesel::allow_tables_to_appear_in_same_query!(companies, notification_contacts, notification_mails);
