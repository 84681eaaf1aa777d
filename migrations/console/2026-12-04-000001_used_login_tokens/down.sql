DROP TABLE used_login_tokens;
