#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# --tls and -j on live TLS over a veth pair. nginx in a fresh namespace serves TLS 1.2 only
# on 8443 and TLS 1.3 only on 9443, h2 and http/1.1 both, with a certificate for a.test,
# b.test and c.test from a test CA that openssl makes here. curl in the root namespace asks
# for several names (--resolve) with ALPN h2 or http/1.1 while xdp-sniff captures on the
# root-side end with --tls-log and -j. Each connection (found by curl's local port) must be
# named with its SNI, the version the port allows, the ALPN curl offered (and, in TLS 1.2,
# the one the server chose: TLS 1.3 encrypts it), a cipher, JA3,
# JA3S and JA4, established, and for TLS 1.2 the server certificate (subject, issuer, SANs)
# as openssl made it; the -j record of the stream carries the same tls object. Last,
# --tls --max-stream-bytes 16384 still gets every field of a 1 MiB download while the kernel
# stops copying the rest.
#
# Usage: tests/e2e/test_tls_live.sh   (as root; XDP_SNIFF=path overrides the binary)

. "$(dirname "$0")/lib.sh"

e2e_require curl python3 ss nginx openssl

setup()
{
	local d=$E2E_TMP

	e2e_netns_up || return 1
	mkdir -p "$d/www" "$d/tmp"
	head -c 1048576 /dev/urandom >"$d/www/big"
	echo hello >"$d/www/index.html"
	# the test CA and the server certificate it signs
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/O=xdp-sniff test/CN=Test CA" \
		-keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null || return 1
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/O=xdp-sniff/CN=a.test" \
		-keyout "$d/srv.key" -out "$d/srv.csr" 2>/dev/null || return 1
	printf 'subjectAltName=DNS:a.test,DNS:b.test,DNS:c.test\n' >"$d/ext.cnf"
	openssl x509 -req -in "$d/srv.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
		-days 2 -extfile "$d/ext.cnf" -out "$d/srv.pem" 2>/dev/null || return 1
	cat >"$d/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/nginx.err;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path $d/tmp;
	proxy_temp_path $d/tmp;
	fastcgi_temp_path $d/tmp;
	uwsgi_temp_path $d/tmp;
	scgi_temp_path $d/tmp;
	ssl_certificate $d/srv.pem;
	ssl_certificate_key $d/srv.key;
	server { listen $XS_SRV4:8443 ssl http2; ssl_protocols TLSv1.2; root $d/www; }
	server { listen $XS_SRV4:9443 ssl http2; ssl_protocols TLSv1.3; root $d/www; }
}
CONF
	ip netns exec "$XS_NS" nginx -c "$d/nginx.conf" >/dev/null 2>&1 &
	# a server: it lives until cleanup, not until the end of a test
	E2E_PIDS+=("$!")
	E2E_SERVERS+=("$!")
	xs_netns_wait_listen 8443 10 && xs_netns_wait_listen 9443 10
}

# get NAME PORT ALPN(h2|http1.1) [PATH]: one curl request; prints curl's local port
get()
{
	"${CURL[@]}" -o /dev/null --cacert "$E2E_TMP/ca.pem" --resolve "$1:$2:$XS_SRV4" \
		"--${3/h2/http2}" -w '%{local_port}\n' "https://$1:$2/${4:-}"
}

t_names_versions_alpn()
{
	local out=$E2E_TMP/conns rc

	xs_start tls "$XS_IF" -p 8443 -p 9443 -j --tls-log "$E2E_TMP/tls.jsonl" || return 1
	: >"$out"
	for spec in "a.test 8443 h2 TLSv1.2" "b.test 8443 http1.1 TLSv1.2" \
		"c.test 9443 h2 TLSv1.3" "a.test 9443 http1.1 TLSv1.3" "b.test 9443 h2 TLSv1.3"; do
		set -- $spec
		port=$(get "$1" "$2" "$3") || { WHY="curl https://$1:$2 failed"; return 1; }
		echo "$port $spec" >>"$out"
	done
	xs_stop || { WHY="xdp-sniff did not stop"; return 1; }
	python3 - "$out" "$E2E_TMP/tls.jsonl" "$E2E_TMP/tls.out" "$E2E_TMP/srv.pem" "$E2E_TMP/ca.pem" \
		>"$E2E_TMP/check.txt" 2>&1 <<'PY'
import json, subprocess, sys
conns, tls, js, srv, ca = sys.argv[1:6]
def openssl_name(f, what):
    out = subprocess.run(['openssl', 'x509', '-in', f, '-noout', f'-{what}', '-nameopt', 'RFC2253'],
                         capture_output=True, text=True, check=True).stdout.strip()
    return out.split('=', 1)[1]
subject, issuer = openssl_name(srv, 'subject'), openssl_name(srv, 'issuer')
recs = {o['client_port']: o for o in map(json.loads, open(tls))}
jrec = {o['source_port']: o for o in map(json.loads, open(js))}
alpn = {'h2': 'h2', 'http1.1': 'http/1.1'}
for line in open(conns):
    port, name, sport, a, ver = line.split()
    port = int(port)
    r = recs.get(port)
    assert r, f'{name}:{sport}: no --tls record for client port {port}'
    t = r['tls']
    what = f'{name}:{sport} {a}'
    assert t['sni'] == name, (what, 'sni', t['sni'])
    assert t['version'] == ver, (what, 'version', t['version'])
    # TLS 1.3 sends the server's choice in EncryptedExtensions: not seen
    assert t['alpn'] == (alpn[a] if ver == 'TLSv1.2' else None), (what, 'alpn', t['alpn'])
    assert alpn[a] in t['alpn_offered'], (what, 'alpn_offered', t['alpn_offered'])
    assert t['cipher'] and t['cipher'].startswith('TLS_'), (what, 'cipher', t['cipher'])
    assert len(t['ja3']) == 32 and len(t['ja3s']) == 32, (what, 'ja3')
    assert t['ja4'].startswith('t13d'), (what, 'ja4', t['ja4'])
    assert t['established'] is True, (what, 'established')
    assert t['flags'] == [] and t['alerts'] == [], (what, t['flags'], t['alerts'])
    if ver == 'TLSv1.2':
        c = t['certificates']
        assert len(c) == 1, (what, 'certificates', c)
        assert c[0]['subject'] == subject and c[0]['issuer'] == issuer, (what, c[0], subject, issuer)
        assert c[0]['sans'] == ['DNS:a.test', 'DNS:b.test', 'DNS:c.test'], (what, c[0]['sans'])
        assert c[0]['key_type'] == 'EC' and c[0]['key_bits'] == 256, (what, c[0])
    else:
        assert t['certificates'] == [], (what, 'TLS 1.3 certificates are encrypted')
    j = jrec.get(port)
    assert j and j['tls'] == t and j['community_id'] == r['community_id'], (what, '-j record')
print('ok', len(recs))
PY
	rc=$?
	[ $rc -eq 0 ] || { WHY=$(tail -n 2 "$E2E_TMP/check.txt" | tr '\n' ' '); return 1; }
}

t_max_stream_bytes()
{
	local port

	xs_start cut "$XS_IF" -p 8443 --tls-log "$E2E_TMP/cut.jsonl" --max-stream-bytes 16384 || return 1
	port=$(get a.test 8443 http1.1 big) || { WHY="curl failed"; return 1; }
	xs_stop || { WHY="xdp-sniff did not stop"; return 1; }
	# the kernel withheld most of the 1 MiB (the line is printed only when it did)
	grep -Eq "payload not copied: ([0-9.]+ MiB|[0-9]{3,}(\.[0-9])? KiB) past --max-stream-bytes" \
		"$E2E_TMP/cut.err" ||
		{ WHY="the kernel copied the whole download: $(grep 'not copied' "$E2E_TMP/cut.err")"; return 1; }
	python3 - "$E2E_TMP/cut.jsonl" "$port" <<'PY' >"$E2E_TMP/cut.txt" 2>&1 || { WHY=$(tail -1 "$E2E_TMP/cut.txt"); return 1; }
import json, sys
r = [o for o in map(json.loads, open(sys.argv[1])) if o['client_port'] == int(sys.argv[2])]
assert r, 'no record'
t = r[0]['tls']
assert t['sni'] == 'a.test' and t['version'] == 'TLSv1.2' and t['established'], t
assert len(t['certificates']) == 1 and t['ja4'] and t['ja3s'], t
PY
}

if ! setup; then
	WHY="setting up the namespace, certificates and nginx failed (see $E2E_TMP)"
	e2e_result setup 1
	e2e_finish
	exit 1
fi

run_test tls_names_versions_alpn t_names_versions_alpn
run_test tls_max_stream_bytes t_max_stream_bytes
e2e_finish
