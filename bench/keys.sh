# Sourced by the bench scripts after lib.sh: fresh Ed25519 keys in $WORK/keys for this run. Exports
# BRIDGE_TRUSTED_KEYS (every process verifies with it) and sets PORTAL_KEY_FILE (mint-token
# --key-file; BRIDGE_PORTAL_SIGNING_KEY of load-directory); `signing_key NAME` prints the private key of sync-service or
# import-service for that process's BRIDGE_SIGNING_KEY.
mkdir -p "$WORK/keys"
bench_key() { # name kid signer
  openssl genpkey -algorithm ed25519 -out "$WORK/keys/$1.pem" 2>/dev/null
  echo "$2:$(openssl pkey -in "$WORK/keys/$1.pem" -outform DER | openssl base64 -A)" >"$WORK/keys/$1.key"
  echo "$2:$3:$(openssl pkey -in "$WORK/keys/$1.pem" -pubout -outform DER | tail -c 32 | openssl base64 -A)" \
    >"$WORK/keys/$1.trusted"
}
bench_key portal bench-portal portal
bench_key sync-service bench-sync sync-service
bench_key import-service bench-import import-service
BRIDGE_TRUSTED_KEYS=$(cat "$WORK"/keys/*.trusted | paste -sd, -)
export BRIDGE_TRUSTED_KEYS
# The portal's key goes only to the commands that mint people's tokens, never to a service.
PORTAL_KEY_FILE=$WORK/keys/portal.key
signing_key() { cat "$WORK/keys/$1.key"; }
