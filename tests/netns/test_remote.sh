#!/bin/bash
# Remote workers on another "host": two Linux network namespaces joined by a
# veth pair. The driver (pydron_wire_driver, remote executor) runs in one,
# pydron-worker processes in the other. Checks: the result over tcp://, a
# wrong secret and a garbage client are refused (with a log line) while the
# run goes on, and the same over tls+tcp:// with a self-signed certificate.
# Usage: test_remote.sh BUILD_DIR   (ctest passes it). Needs root and `ip`.
set -u
B=${1:?usage: test_remote.sh BUILD_DIR}
DRIVER=$B/tests/c/pydron_wire_driver
WORKER=$B/libpydron/pydron-worker
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null 2>&1; then
    echo "SKIP: needs root and iproute2 (ip netns) to make network namespaces"
    exit 77
fi
if ! ip netns add pyd-probe-$$ 2>/dev/null; then
    echo "SKIP: cannot create network namespaces here"
    exit 77
fi
ip netns del pyd-probe-$$

NS1=pyd-drv-$$
NS2=pyd-wrk-$$
VD=pvd$$
VW=pvw$$
T=$(mktemp -d /tmp/pydron-netns-XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    ip netns pids $NS1 2>/dev/null | xargs -r kill -9 2>/dev/null
    ip netns pids $NS2 2>/dev/null | xargs -r kill -9 2>/dev/null
    ip netns del $NS1 2>/dev/null
    ip netns del $NS2 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; for f in "$T"/*.log; do echo "--- $f"; cat "$f"; done; exit 1; }

ip netns add $NS1 && ip netns add $NS2 || fail "netns add"
ip link add $VD type veth peer name $VW || fail "veth"
ip link set $VD netns $NS1 && ip link set $VW netns $NS2 || fail "veth move"
ip -n $NS1 addr add 10.77.0.1/24 dev $VD
ip -n $NS2 addr add 10.77.0.2/24 dev $VW
for ns in $NS1 $NS2; do ip -n $ns link set lo up; done
ip -n $NS1 link set $VD up
ip -n $NS2 link set $VW up
ip -n $NS2 route get 10.77.0.1 >/dev/null || fail "no route between the namespaces"

pydron_secret() { head -c 32 /dev/urandom | od -An -tx1 | tr -d " \n"; echo; }
pydron_secret > "$T/secret"
pydron_secret > "$T/wrong"
chmod 600 "$T/secret" "$T/wrong"

# wait until something listens on port $2 in namespace $1
wait_port() {
    for _ in $(seq 1 100); do
        ip netns exec "$1" ss -ltn 2>/dev/null | grep -q ":$2 " && return 0
        sleep 0.05
    done
    return 1
}

run_case() { # name url extra-driver-args extra-worker-args
    local name=$1 url=$2 dargs=$3 wargs=$4 port=${2##*:}
    ip netns exec $NS1 env PYDRON_SECRET_FILE="$T/secret" "$DRIVER" --executor remote \
        --workers 2 --tasks 3000 --listen "$url" $dargs >"$T/$name-driver.out" 2>"$T/$name-driver.log" &
    local dpid=$!
    PIDS+=($dpid)
    wait_port $NS1 "$port" || fail "$name: driver does not listen on $url"

    # a client that speaks no pydron: refused, the driver keeps serving
    ip netns exec $NS2 bash -c "exec 3<>/dev/tcp/10.77.0.1/$port; printf 'GET / HTTP/1.0\r\n\r\n' >&3; sleep 0.3" \
        2>/dev/null
    # wrong secret: refused before any task reaches it
    ip netns exec $NS2 timeout 20 "$WORKER" --connect "$url" --secret-file "$T/wrong" $wargs \
        >"$T/$name-wrong.log" 2>&1
    local wrc=$?
    [ $wrc -ne 0 ] || fail "$name: a worker with the wrong secret was accepted"
    grep -q "secret" "$T/$name-wrong.log" || fail "$name: the wrong-secret worker does not say why"
    ! grep -q "TLS failed" "$T/$name-wrong.log" || fail "$name: TLS itself failed"

    for i in 0 1; do
        ip netns exec $NS2 "$WORKER" --connect "$url" --secret-file "$T/secret" --id $i $wargs \
            >"$T/$name-worker$i.log" 2>&1 &
        PIDS+=($!)
    done
    local rc=0
    wait $dpid || rc=$?
    [ $rc -eq 0 ] || fail "$name: driver exited with $rc"
    grep -q "^result " "$T/$name-driver.out" || fail "$name: no result"
    local got want
    got=$(sed -n 's/^result //p' "$T/$name-driver.out")
    want=$(sed -n 's/^expected //p' "$T/$name-driver.out")
    [ "$got" = "$want" ] || fail "$name: result $got, expected $want"
    grep -q "refused connection from tcp 10.77.0.2" "$T/$name-driver.log" ||
        fail "$name: the driver did not log the refused connections"
    grep -qi "secret" "$T/$name-driver.log" || fail "$name: no log line about the wrong secret"
    # workers leave on the driver's shutdown
    for _ in $(seq 1 100); do
        [ -z "$(ip netns pids $NS2)" ] && break
        sleep 0.05
    done
    [ -z "$(ip netns pids $NS2)" ] || fail "$name: workers still running after the driver finished"
    echo "ok: $name (result $got)"
}

run_case tcp tcp://10.77.0.1:7101 "" ""

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/key.pem" -out "$T/cert.pem" -days 1 \
    -subj "/CN=10.77.0.1" >/dev/null 2>&1 ||
    fail "openssl could not make a certificate"
run_case tls tls+tcp://10.77.0.1:7102 "--tls-cert $T/cert.pem --tls-key $T/key.pem" \
    "--tls-ca $T/cert.pem"

# (mbedtls 2.x matches an IP host against the CN, not IP subjectAltNames)
# a worker that does not trust the driver's certificate never connects
ip netns exec $NS1 env PYDRON_SECRET_FILE="$T/secret" "$DRIVER" --executor remote \
    --workers 1 --tasks 10 --listen tls+tcp://10.77.0.1:7103 \
    --tls-cert "$T/cert.pem" --tls-key "$T/key.pem" >"$T/untrusted-driver.out" 2>&1 &
DP=$!
PIDS+=($DP)
wait_port $NS1 7103 || fail "untrusted: no listener"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/k2.pem" -out "$T/other-ca.pem" -days 1 \
    -subj "/CN=other" >/dev/null 2>&1
ip netns exec $NS2 timeout 20 "$WORKER" --connect tls+tcp://10.77.0.1:7103 \
    --secret-file "$T/secret" --tls-ca "$T/other-ca.pem" >"$T/untrusted.log" 2>&1 &&
    fail "a worker accepted a driver certificate signed by an unknown CA"
grep -q "TLS failed" "$T/untrusted.log" || fail "untrusted: the worker does not say TLS failed"
kill $DP 2>/dev/null
echo "ok: untrusted certificate refused"
echo "PASS"
