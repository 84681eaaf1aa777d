//! The `import` schema, as diesel sees it (see migrations/import).

diesel::table! {
    import.imports (id) {
        id -> Int8,
        filename -> Text,
        file_path -> Nullable<Text>,
        sha256 -> Text,
        size_bytes -> Int8,
        status -> Text,
        options -> Jsonb,
        facts -> Nullable<Jsonb>,
        total_records -> Int4,
        processed_records -> Int4,
        successful_records -> Int4,
        failed_records -> Int4,
        skipped_records -> Int4,
        punches_new -> Int4,
        duplicate_punches_in_file -> Int4,
        duplicate_punches_known -> Int4,
        validation_errors -> Jsonb,
        unmapped_departments -> Jsonb,
        unknown_employees -> Jsonb,
        held_reason -> Nullable<Text>,
        cancelled_at -> Nullable<Timestamptz>,
        uploaded_by -> Text,
        team -> Nullable<Text>,
        error -> Nullable<Text>,
        created_at -> Timestamptz,
        started_at -> Nullable<Timestamptz>,
        completed_at -> Nullable<Timestamptz>,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    import.import_rows (import_id, line) {
        import_id -> Int8,
        line -> Int4,
        raw -> Nullable<Jsonb>,
        outcome -> Text,
        errors -> Jsonb,
        warnings -> Jsonb,
        department -> Text,
        company_id -> Nullable<Int8>,
        employee_id -> Nullable<Text>,
        bayzat_emp_id -> Nullable<Text>,
        work_date -> Nullable<Date>,
        punches -> Jsonb,
        punch_ids -> Array<Int8>,
        known_punch_ids -> Array<Int8>,
        queued -> Bool,
    }
}

diesel::table! {
    import.punches (id) {
        id -> Int8,
        company_id -> Int8,
        emp_id -> Text,
        punch_time -> Timestamp,
        punch_type -> Text,
        import_id -> Int8,
        line -> Int4,
        state -> Text,
        error -> Nullable<Text>,
        state_at -> Nullable<Timestamptz>,
        batch_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    import.clocks (id) {
        id -> Int8,
        serial_number -> Text,
        state -> Text,
        company_ids -> Array<Int8>,
        time_zone -> Text,
        allowed_network -> Nullable<Text>,
        handshake -> Nullable<Jsonb>,
        last_seen_at -> Nullable<Timestamptz>,
        last_punch_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    import.clock_days (clock_id, day) {
        clock_id -> Int8,
        day -> Date,
        import_id -> Int8,
    }
}

diesel::allow_tables_to_appear_in_same_query!(imports, import_rows, punches, clocks, clock_days);

diesel::table! {
    import.biotime_servers (id) {
        id -> Int8,
        name -> Text,
        url -> Text,
        username -> Text,
        password_sealed -> Text,
        mapping -> Jsonb,
        time_zone -> Text,
        interval_seconds -> Int4,
        state -> Text,
        next_pull_at -> Timestamptz,
        last_attempt_at -> Nullable<Timestamptz>,
        last_success_at -> Nullable<Timestamptz>,
        failing_since -> Nullable<Timestamptz>,
        consecutive_failures -> Int4,
        last_error -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    import.biotime_cursors (server_id) {
        server_id -> Int8,
        since -> Nullable<Text>,
        last_id -> Int8,
        position -> Int8,
        last_punch_time -> Nullable<Timestamp>,
        transactions -> Int8,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    import.biotime_days (server_id, day) {
        server_id -> Int8,
        day -> Date,
        import_id -> Int8,
    }
}

diesel::joinable!(biotime_cursors -> biotime_servers (server_id));
diesel::allow_tables_to_appear_in_same_query!(biotime_servers, biotime_cursors, biotime_days);
