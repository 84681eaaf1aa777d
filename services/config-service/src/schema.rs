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

diesel::joinable!(report_names -> companies (company_id));
diesel::joinable!(employees -> companies (company_id));
diesel::joinable!(bayzat_configs -> companies (company_id));
diesel::allow_tables_to_appear_in_same_query!(companies, report_names, employees, bayzat_configs);
