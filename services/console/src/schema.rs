//! The `console` schema, as diesel sees it (see migrations/console).

diesel::table! {
    console.sessions (token_sha256) {
        token_sha256 -> Bytea,
        sub -> Text,
        role -> Text,
        companies -> Nullable<Jsonb>,
        team -> Nullable<Text>,
        csrf_token -> Text,
        login_sha256 -> Bytea,
        created_at -> Timestamptz,
        last_seen_at -> Timestamptz,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    console.preferences (sub) {
        sub -> Text,
        lang -> Text,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    console.used_login_tokens (token_sha256) {
        token_sha256 -> Bytea,
        usable_until -> Timestamptz,
    }
}

diesel::allow_tables_to_appear_in_same_query!(sessions, preferences, used_login_tokens);
