#!/usr/bin/env bash
# Makes development secrets for docker-compose.yml (and an example for
# Kubernetes): a CA, a server certificate for localhost/127.0.0.1/trilemma,
# and a token file with one random token. Never use them in production.
#
#   deploy/make-dev-secrets.sh            # writes deploy/secrets/ (git-ignored)
#   build/bin/trilemma --tls_ca_file=deploy/secrets/ca.crt \
#     --auth_token="$(awk '/^dev /{print $2}' deploy/secrets/tokens.txt)" engines
set -euo pipefail
dir="${1:-$(dirname "$0")/secrets}"
mkdir -p "$dir"
cd "$dir"
key=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
openssl req -x509 "${key[@]}" -days 365 -subj "/CN=Trilemma dev CA" \
  -keyout ca.key -out ca.crt \
  -addext basicConstraints=critical,CA:TRUE \
  -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
openssl req "${key[@]}" -subj "/CN=trilemma" -keyout tls.key -out tls.csr \
  2>/dev/null
printf '%s\n' \
  "subjectAltName=DNS:localhost,DNS:trilemma,DNS:*.trilemma,IP:127.0.0.1" \
  "basicConstraints=CA:FALSE" "extendedKeyUsage=serverAuth" >tls.ext
openssl x509 -req -days 365 -in tls.csr -CA ca.crt -CAkey ca.key \
  -CAcreateserial -out tls.crt -extfile tls.ext 2>/dev/null
rm -f tls.csr tls.ext ca.srl
printf 'dev %s\n' "$(openssl rand -hex 24)" >tokens.txt
# The container runs as uid 10001; compose mounts these files as they are.
chmod 0644 ca.crt tls.crt tls.key tokens.txt
chmod 0600 ca.key
echo "wrote $(pwd)/{ca.crt,ca.key,tls.crt,tls.key,tokens.txt}"
