//! The `sync` schema, as diesel sees it (see migrations/sync).

/// SQL types of columns whose values are a closed set of words.
pub mod sql_types {
    /// `deliveries.state`: a `text` column the migrations' CHECK limits to the delivery states.
    /// Read and written as [`domain::DeliveryState`] (see `store::delivery_state`), so a word
    /// outside the set is an error where it is read. The OIDs are `text` and `text[]`, fixed, so
    /// no statement looks them up.
    #[derive(Debug, Clone, Copy, diesel::sql_types::SqlType, diesel::query_builder::QueryId)]
    #[diesel(postgres_type(oid = 25, array_oid = 1009))]
    pub struct DeliveryState;
}

diesel::table! {
    sync.sync_batches (id) {
        id -> Uuid,
        company_id -> Int8,
        import_id -> Nullable<Int8>,
        kind -> Text,
        total_count -> Int4,
        delivered_count -> Int4,
        failed_count -> Int4,
        rejected_count -> Int4,
        cancelled_count -> Int4,
        status -> Text,
        error_message -> Nullable<Text>,
        created_at -> Timestamptz,
        started_at -> Nullable<Timestamptz>,
        completed_at -> Nullable<Timestamptz>,
        updated_at -> Timestamptz,
        started_count -> Int4,
        announced_count -> Nullable<Int4>,
        received_count -> Int4,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::DeliveryState;

    sync.deliveries (punch_id) {
        punch_id -> Int8,
        batch_id -> Uuid,
        company_id -> Int8,
        import_id -> Int8,
        emp_id -> Text,
        punch_type -> Text,
        local_time -> Timestamp,
        state -> DeliveryState,
        attempts -> Int4,
        next_attempt_at -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        bayzat_request_id -> Nullable<Int8>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        delivered_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    sync.bayzat_requests (id) {
        id -> Int8,
        company_id -> Int8,
        holder -> Text,
        records -> Int4,
        punch_ids -> Array<Int8>,
        status_code -> Nullable<Int4>,
        outcome -> Text,
        latency_ms -> Int4,
        error -> Nullable<Text>,
        started_at -> Timestamptz,
    }
}

diesel::table! {
    sync.company_sync_state (company_id) {
        company_id -> Int8,
        state -> Text,
        reason -> Nullable<Text>,
        since -> Timestamptz,
        config_version -> Int8,
        due_published_at -> Nullable<Timestamptz>,
        rate_limited_until -> Nullable<Timestamptz>,
        rate_limit_reason -> Nullable<Text>,
    }
}

diesel::table! {
    sync.sender_leases (company_id) {
        company_id -> Int8,
        holder -> Text,
        epoch -> Int8,
        expires_at -> Timestamptz,
        last_request_started_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    sync.replicas (replica_id) {
        replica_id -> Text,
        seen_at -> Timestamptz,
    }
}

diesel::table! {
    sync.clock_health (clock_id) {
        clock_id -> Int8,
        serial_number -> Text,
        state -> Text,
        company_ids -> Array<Int8>,
        last_seen_at -> Nullable<Timestamptz>,
        last_punch_at -> Nullable<Timestamptz>,
        punches_today -> Int8,
        quiet_since -> Timestamptz,
        silent_after_seconds -> Int8,
        observed_at -> Timestamptz,
    }
}

diesel::table! {
    sync.dead_letters (id) {
        id -> Int8,
        queue -> Text,
        routing_key -> Text,
        reason -> Text,
        company_id -> Nullable<Int8>,
        message_id -> Nullable<Text>,
        message_type -> Nullable<Text>,
        traceparent -> Nullable<Text>,
        payload -> Bytea,
        dead_lettered_at -> Timestamptz,
        replayed_at -> Nullable<Timestamptz>,
        replayed_by -> Nullable<Text>,
    }
}

diesel::joinable!(deliveries -> sync_batches (batch_id));
diesel::allow_tables_to_appear_in_same_query!(
    sync_batches,
    deliveries,
    bayzat_requests,
    company_sync_state,
    sender_leases,
    replicas,
    clock_health,
    dead_letters,
);
