#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# load --metrics: the Prometheus endpoint while traffic is captured. promtool accepts the
# text; a real Prometheus (started here, its own storage and port) scrapes it every second
# and its query API sees a packet counter grow; other paths and methods get 404/405; a port
# in use stops load with one line and exit 2 before it attaches; a port alone listens on
# 127.0.0.1 only; idle and trickling clients neither stall the capture nor keep a scraper
# on another address out; the server's thread runs with no capability under seccomp.

. "$(dirname "$0")/lib.sh"

e2e_require python3 curl promtool prometheus ss

WWW=$E2E_TMP/www
MCURL=(curl -sS --noproxy '*' --max-time 5)

# A free TCP port on loopback (for Prometheus's own web UI).
free_port()
{
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# xs_metrics NAME ARGS...: starts load with --metrics on a port the kernel picks (unless
# ARGS give one) and sets MPORT from its "metrics at" line.
xs_metrics()
{
	local name=$1

	shift
	xs_start "$name" "$XS_IF" -p 8080 -o "$E2E_TMP/$name-flows" "$@" || return 1
	MPORT=$(sed -n 's|.*metrics at http://[^ ]*:\([0-9]*\)/metrics$|\1|p' "$E2E_TMP/$name.err")
	[ -n "$MPORT" ] || { WHY="no 'metrics at' line: $(head -c 300 "$E2E_TMP/$name.err")"; return 1; }
}

# sample TEXTFILE METRIC LABELS: the value of METRIC{LABELS} in an exposition text.
sample()
{
	awk -v k="$2{$3}" '$1 == k { print $2 }' "$1"
}

scrape()
{
	"${MCURL[@]}" -o "$2" "http://127.0.0.1:$1/metrics"
}

t_promtool()
{
	local m=$E2E_TMP/m1.txt j n

	xs_metrics m1 --metrics 127.0.0.1:0 --stats-interval 1 || return 1
	fetch_all "$XS_SRV4" "$WWW" "$E2E_TMP/got1" 8080/f_65536 8080/f_1460 || return 1
	# the text is published once a second: wait for the downloads' packets in it
	wait_for 10 eval 'scrape $MPORT $m && [ "$(sample $m xdp_sniff_streams_opened_total interface=\"$XS_IF\")" -ge 2 ]' ||
		{ WHY="the streams never showed in /metrics: $(head -c 300 "$m")"; return 1; }
	promtool check metrics <"$m" >"$E2E_TMP/promtool.out" 2>&1 ||
		{ WHY="promtool check metrics: $(head -c 400 "$E2E_TMP/promtool.out")"; return 1; }
	for n in 'xdp_sniff_packets_seen_total interface="'"$XS_IF"'",direction="in"' \
		 'xdp_sniff_packets_ring_full_total interface="'"$XS_IF"'",direction="out"' \
		 'xdp_sniff_streams_open interface="'"$XS_IF"'"' \
		 'xdp_sniff_ring_used_bytes interface="'"$XS_IF"'"' \
		 'xdp_sniff_memory_used_bytes interface="'"$XS_IF"'"' \
		 'xdp_sniff_memcap_bytes interface="'"$XS_IF"'"' \
		 'xdp_sniff_output_written_bytes_total interface="'"$XS_IF"'"' \
		 'xdp_sniff_outputs_failed interface="'"$XS_IF"'"' \
		 'xdp_sniff_process_resident_memory_bytes interface="'"$XS_IF"'"' \
		 'xdp_sniff_scrapes_total interface="'"$XS_IF"'"'; do
		[ -n "$(sample "$m" "${n%% *}" "${n#* }")" ] ||
			{ WHY="no ${n%% *}{${n#* }} in /metrics"; return 1; }
	done
	grep -q '^# TYPE xdp_sniff_packets_seen_total counter$' "$m" ||
		{ WHY="no counter TYPE line for packets_seen"; return 1; }
	[ "$(sample "$m" xdp_sniff_output_written_bytes_total "interface=\"$XS_IF\"")" -ge 65536 ] ||
		{ WHY="output bytes written below the 64 KiB the -o files hold"; return 1; }
	[ "$(sample "$m" xdp_sniff_process_resident_memory_bytes "interface=\"$XS_IF\"")" -gt 1000000 ] ||
		{ WHY="RSS implausibly small"; return 1; }
	# a --stats-interval line to compare with (the first comes a second into the capture,
	# later on a loaded machine)
	wait_for 10 grep -q '^{' "$E2E_TMP/m1.err" || { WHY="no --stats-interval line in 10 s"; return 1; }
	xs_stop INT || return 1
	[ "$XS_RC" -eq 0 ] || { WHY="exit status $XS_RC"; return 1; }
	# one source: every figure of the JSON line is a metric, and the other way round
	j=$(grep '^{' "$E2E_TMP/m1.err" | tail -n 1)
	python3 - "$j" "$m" <<'PY' || { WHY="the JSON line and /metrics disagree on their figures"; return 1; }
import json, sys
o = json.loads(sys.argv[1])
def leaves(d):
    n = 0
    for k, v in d.items():
        if k == "ts_ns":
            continue
        n += leaves(v) if isinstance(v, dict) else 1
    return n
samples = [l for l in open(sys.argv[2]) if l.startswith("xdp_sniff_")]
if leaves(o) != len(samples):
    print(leaves(o), len(samples), file=sys.stderr)
    sys.exit(1)
PY
}

t_prometheus()
{
	local pport dir=$E2E_TMP/prom v1 v2 q tpid

	xs_metrics m2 --metrics 0 || return 1
	pport=$(free_port)
	mkdir -p "$dir/data"
	cat >"$dir/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: xdp-sniff
    scrape_interval: 1s
    scrape_timeout: 1s
    static_configs:
      - targets: ['127.0.0.1:$MPORT']
EOF
	prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
		--web.listen-address="127.0.0.1:$pport" >"$dir/prometheus.log" 2>&1 &
	E2E_PIDS+=($!)
	# traffic all along
	(
		for i in $(seq 60); do
			"${CURL[@]}" -o /dev/null "http://$XS_SRV4:8080/f_65536" 2>/dev/null
			sleep 0.25
		done
	) &
	tpid=$!
	E2E_PIDS+=("$tpid")
	q="http://127.0.0.1:$pport/api/v1/query"
	query()
	{
		"${MCURL[@]}" -G "$q" 2>/dev/null --data-urlencode \
			"query=xdp_sniff_packets_matched_total{job=\"xdp-sniff\",interface=\"$XS_IF\",direction=\"in\"}" |
			python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")' 2>/dev/null
	}
	wait_for 30 eval 'v1=$(query); [ -n "$v1" ]' ||
		{ WHY="Prometheus never had the counter: $(tail -n 3 "$dir/prometheus.log" | head -c 300)"; return 1; }
	wait_for 20 eval 'v2=$(query); [ -n "$v2" ] && [ "$v2" -gt "$v1" ]' ||
		{ WHY="the packets counter did not grow between scrapes ($v1, then ${v2:-nothing})"; return 1; }
	e2e_log "Prometheus saw packets_matched go from $v1 to $v2"
	"${MCURL[@]}" -G "$q" --data-urlencode 'query=up{job="xdp-sniff"}' | grep -q '"value":\[[0-9.]*,"1"\]' ||
		{ WHY="Prometheus says the target is not up"; return 1; }
}

t_refused()
{
	local code

	xs_metrics m3 --metrics 0 || return 1
	code=$("${MCURL[@]}" -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MPORT/")
	[ "$code" = 404 ] || { WHY="GET / answered $code, not 404"; return 1; }
	code=$("${MCURL[@]}" -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MPORT/metrics/x")
	[ "$code" = 404 ] || { WHY="GET /metrics/x answered $code, not 404"; return 1; }
	code=$("${MCURL[@]}" -o /dev/null -w '%{http_code}' -X POST -d x "http://127.0.0.1:$MPORT/metrics")
	[ "$code" = 405 ] || { WHY="POST /metrics answered $code, not 405"; return 1; }
	code=$("${MCURL[@]}" -o /dev/null -w '%{http_code}' -X DELETE "http://127.0.0.1:$MPORT/metrics")
	[ "$code" = 405 ] || { WHY="DELETE /metrics answered $code, not 405"; return 1; }
	code=$("${MCURL[@]}" -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MPORT/metrics")
	[ "$code" = 200 ] || { WHY="GET /metrics answered $code, not 200"; return 1; }
}

t_port_in_use()
{
	local port rc hold

	port=$(free_port)
	python3 -c 'import socket,sys,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1); print("ok", flush=True); time.sleep(60)' \
		"$port" >"$E2E_TMP/hold.out" &
	hold=$!
	E2E_PIDS+=("$hold")
	wait_for 5 grep -q ok "$E2E_TMP/hold.out" || { WHY="could not hold port $port"; return 1; }
	timeout 20 "$XS" load "$XS_IF" -p 8080 --metrics "$port" >"$E2E_TMP/inuse.out" 2>"$E2E_TMP/inuse.err"
	rc=$?
	[ "$rc" -eq 2 ] || { WHY="exit status $rc, not 2: $(head -c 300 "$E2E_TMP/inuse.err")"; return 1; }
	[ "$(wc -l <"$E2E_TMP/inuse.err")" -eq 1 ] ||
		{ WHY="not one line: $(head -c 300 "$E2E_TMP/inuse.err")"; return 1; }
	grep -q "127.0.0.1:$port\|$port" "$E2E_TMP/inuse.err" && grep -qi 'in use' "$E2E_TMP/inuse.err" ||
		{ WHY="the line does not say the port is in use: $(cat "$E2E_TMP/inuse.err")"; return 1; }
	grep -q 'capturing on' "$E2E_TMP/inuse.err" && { WHY="it attached first"; return 1; }
	[ ! -e "/sys/fs/bpf/xdp-sniff/$XS_IF" ] || { WHY="pins were left on $XS_IF"; return 1; }
	ip link show dev "$XS_IF" | grep -q 'xdp' && { WHY="an XDP program was left attached"; return 1; }
	return 0
}

t_default_loopback()
{
	local port l

	port=$(free_port)
	xs_metrics m5 --metrics "$port" || return 1
	[ "$MPORT" = "$port" ] || { WHY="listening on $MPORT, asked $port"; return 1; }
	l=$(ss -Hltn "sport = :$port" | awk '{ print $4 }')
	[ "$l" = "127.0.0.1:$port" ] || { WHY="PORT alone listens on '$l', not 127.0.0.1:$port only"; return 1; }
	"${MCURL[@]}" -o /dev/null "http://127.0.0.1:$port/metrics" || { WHY="no answer on loopback"; return 1; }
	return 0
}

# Idle connections and a slowloris from two other loopback addresses, held while traffic
# is captured: the capture's counters go on, and a scrape from 127.0.0.1 is answered in
# time. (One address holds at most 16 connections: a scraper that shares the attacker's
# address is what the per-address limit cannot protect.)
t_slow_clients()
{
	local before=$E2E_TMP/before.txt after=$E2E_TMP/after.txt apid t0 t1 b a

	xs_metrics m6 --metrics 0 || return 1
	fetch_all "$XS_SRV4" "$WWW" "$E2E_TMP/got6a" 8080/f_1460 || return 1
	wait_for 5 eval 'scrape $MPORT $before && [ "$(sample $before xdp_sniff_packets_matched_total "interface=\"$XS_IF\",direction=\"in\"")" -gt 0 ]' ||
		{ WHY="no first scrape with packets"; return 1; }
	python3 - "$MPORT" "$E2E_TMP/attack.state" <<'PY' &
import socket, sys, time
port, state = int(sys.argv[1]), sys.argv[2]
idle, slow = [], []
for i in range(50):
    s = socket.socket(); s.bind(("127.0.0.2", 0)); s.connect(("127.0.0.1", port)); idle.append(s)
for i in range(10):
    s = socket.socket(); s.bind(("127.0.0.3", 0)); s.connect(("127.0.0.1", port))
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n"); slow.append(s)
open(state, "w").write("holding\n")
for t in range(40):
    for s in slow:
        try:
            s.sendall(b"X")
        except OSError:
            pass
    time.sleep(1)
PY
	apid=$!
	E2E_PIDS+=("$apid")
	wait_for 10 grep -qs holding "$E2E_TMP/attack.state" || { WHY="the attack never held its connections"; return 1; }
	fetch_all "$XS_SRV4" "$WWW" "$E2E_TMP/got6b" 8080/f_65536 8080/f_1460 || return 1
	sleep 1.2
	t0=$(date +%s%N)
	scrape "$MPORT" "$after" || { WHY="a scrape failed while 60 clients held connections"; return 1; }
	t1=$(date +%s%N)
	b=$(sample "$before" xdp_sniff_packets_matched_total "interface=\"$XS_IF\",direction=\"in\"")
	a=$(sample "$after" xdp_sniff_packets_matched_total "interface=\"$XS_IF\",direction=\"in\"")
	e2e_log "scrape under attack: $(( (t1 - t0) / 1000000 )) ms; matched $b -> $a"
	[ -n "$a" ] && [ "$a" -gt "$b" ] || { WHY="the capture's counters did not advance ($b -> $a)"; return 1; }
	kill -0 "$apid" 2>/dev/null || { WHY="the attack ended before the scrape"; return 1; }
	# the capture still reassembled what it saw under the attack
	cmp -s "$E2E_TMP/got6b/8080-f_65536" "$WWW/8080/f_65536" || { WHY="the download was damaged"; return 1; }
	xs_stop INT || return 1
	[ "$XS_RC" -eq 0 ] || { WHY="exit status $XS_RC"; return 1; }
}

# Capabilities and seccomp are per thread: the server's thread, made before privileges were
# dropped, must have dropped its own. Every thread: no effective capability, filter on.
t_thread_confined()
{
	local t st bad=""

	xs_metrics m7 --metrics 0 -Z nobody || return 1
	scrape "$MPORT" "$E2E_TMP/m7.txt" || { WHY="no scrape with -Z nobody"; return 1; }
	for t in /proc/"$XS_PID"/task/*; do
		st=$(cat "$t/status")
		grep -q $'^Seccomp:\t2$' <<<"$st" || bad="$bad $(basename "$t"):seccomp"
		grep -q $'^CapEff:\t0000000000000000$' <<<"$st" || bad="$bad $(basename "$t"):CapEff"
	done
	[ "$(ls /proc/"$XS_PID"/task | wc -l)" -ge 2 ] || { WHY="no server thread"; return 1; }
	[ -z "$bad" ] || { WHY="threads not confined:$bad"; return 1; }
	xs_stop INT || return 1
	[ "$XS_RC" -eq 0 ] || { WHY="exit status $XS_RC"; return 1; }
	xs_metrics m8 --metrics 0 || return 1
	for t in /proc/"$XS_PID"/task/*; do
		[ "$t" = "/proc/$XS_PID/task/$XS_PID" ] && continue
		grep -q $'^CapPrm:\t0000000000000000$' "$t/status" ||
			{ WHY="the server thread kept permitted capabilities as root"; return 1; }
		grep -q $'^Seccomp:\t2$' "$t/status" || { WHY="the server thread has no filter"; return 1; }
	done
	scrape "$MPORT" "$E2E_TMP/m8.txt" || { WHY="no scrape as root"; return 1; }
}

make_files "$WWW/8080" 1460 65536
if ! e2e_netns_up || ! e2e_http_server 8080 "$WWW/8080"; then
	WHY="setting up the namespace and server failed"
	e2e_result setup 1
	e2e_finish
	exit 1
fi
run_test promtool_check t_promtool
run_test prometheus_scrapes t_prometheus
run_test other_requests_404_405 t_refused
run_test port_in_use_exit_2 t_port_in_use
run_test default_bind_loopback t_default_loopback
run_test slow_clients_do_not_stall t_slow_clients
run_test server_thread_confined t_thread_confined
e2e_finish
