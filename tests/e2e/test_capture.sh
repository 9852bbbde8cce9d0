#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# What xdp-sniff load captures on a veth pair, checked against what was sent.
#
# Two HTTP servers run in a fresh namespace: port 8080 (in the filter) serves
# random files of 0 B to 8 MiB, port 9090 (outside it) serves others. curl in the
# root namespace fetches them all at once over the veth pair while xdp-sniff
# captures on the root-side end. The pcap must hold every byte of every 8080
# response (tcpflow reassembles it) and nothing else; -o and -j must hold the
# same streams.
#
# Usage: tests/e2e/test_capture.sh   (as root; XDP_SNIFF=path overrides the binary,
#        E2E_KEEP=1 keeps the temp directory)

. "$(dirname "$0")/lib.sh"

e2e_require tcpdump tcpflow curl python3 ss tc

SIZES=(0 1 1460 65536 1048576 8388608)
NAMES=()
for s in "${SIZES[@]}"; do NAMES+=("f_$s"); done
WWW=$E2E_TMP/www

# every file via 8080, some via 9090 at the same time
ITEMS_ALL=()
for n in "${NAMES[@]}"; do ITEMS_ALL+=("8080/$n"); done
ITEMS_ALL+=(9090/f_1 9090/f_65536 9090/f_1048576)

setup()
{
	make_files "$WWW/8080" "${SIZES[@]}"
	make_files "$WWW/9090" 1 65536 1048576
	e2e_netns_up || { echo "# cannot build the namespace and veth pair" >&2; return 1; }
	e2e_http_server 8080 "$WWW/8080" || { echo "# http.server on 8080 did not start" >&2; return 1; }
	e2e_http_server 9090 "$WWW/9090" || { echo "# http.server on 9090 did not start" >&2; return 1; }
}

# The common end of a capture: clean exit, a readable pcap, no ring loss.
stopped_cleanly()
{
	local name=$1 rf

	xs_stop INT || { WHY="xdp-sniff did not exit within 30 s of SIGINT"; return 1; }
	[ "$XS_RC" -eq 0 ] ||
		{ WHY="exit status $XS_RC: $(tail -n 2 "$E2E_TMP/$name.err" | tr '\n' ' ')"; return 1; }
	rf=$(xs_ring_full "$E2E_TMP/$name.err")
	[ -n "$rf" ] || { WHY="no ring-full counter on stderr at exit"; return 1; }
	[ "$rf" -eq 0 ] || { WHY="$rf packets dropped because the ring was full"; return 1; }
}

pcap_readable()
{
	local f=$1

	tcpdump -nr "$f" >/dev/null 2>"$f.tcpdump.err" ||
		{ WHY="tcpdump cannot read $f: $(head -c 200 "$f.tcpdump.err")"; return 1; }
}

# -p 8080 -w: every 8080 response complete, nothing of 9090. With a mode (native, skb)
# given as --xdp-mode, else auto, which is skb on a veth; status and ip link must say it.
t_ipv4_port()
{
	local mode=${1:-} f=$E2E_TMP/v4.pcap n d st want link

	if [ -n "$mode" ]; then
		xs_start v4 "$XS_IF" -p 8080 -w "$f" --xdp-mode "$mode" || return 1
	else
		xs_start v4 "$XS_IF" -p 8080 -w "$f" || return 1
	fi
	want=${mode:-skb}
	st=$("$XS" status "$XS_IF" 2>&1)
	printf '%s\n' "$st" | grep -q "ingress: XDP program id [0-9]*, $want mode" ||
		{ WHY="status does not say $want mode: $(printf '%s' "$st" | grep ingress)"; return 1; }
	link=$(ip link show dev "$XS_IF")
	case $want in
	skb) [[ $link == *xdpgeneric* ]] ;;
	native) [[ $link == *" xdp "* ]] ;;
	esac || { WHY="ip link does not show $want XDP: $(printf '%s' "$link" | head -n1)"; return 1; }
	fetch_all "$XS_SRV4" "$WWW" "$E2E_TMP/got-v4" "${ITEMS_ALL[@]}" || return 1
	stopped_cleanly v4 || return 1
	pcap_readable "$f" || return 1
	n=$(pcap_count "$f" 'tcp port 9090')
	[ "$n" -eq 0 ] || { WHY="$n packets of port 9090 in the pcap"; return 1; }
	n=$(pcap_count "$f" 'tcp port 8080')
	[ "$n" -gt 0 ] || { WHY="no packet of port 8080 in the pcap"; return 1; }
	d=$(sed -n 's/^[0-9]* packets matched the filter, \([0-9]*\) delivered.*/\1/p' "$E2E_TMP/v4.err")
	n=$(pcap_count "$f")
	[ "$n" = "$d" ] || { WHY="$n packets in the pcap, $d delivered by the kernel program"; return 1; }
	tcpflow_dir "$f" "$E2E_TMP/flows-v4" || return 1
	WHY=$(check_flows "$E2E_TMP/flows-v4" "$XS_SRV4" 8080 "$WWW/8080" "${NAMES[@]}") || return 1
}

# -a ADDR6 -p 8080 -w: the IPv6 streams of 8080 only; neither 9090 nor IPv4 8080.
t_ipv6_addr_port()
{
	local f=$E2E_TMP/v6.pcap n

	[ "$XS_HAVE_V6" = 1 ] || { WHY="IPv6 addresses cannot be added here"; return 77; }
	xs_start v6 "$XS_IF" -a "$XS_SRV6" -p 8080 -w "$f" || return 1
	fetch_all "$XS_SRV6" "$WWW" "$E2E_TMP/got-v6" "${ITEMS_ALL[@]}" &
	local p6=$!
	fetch_all "$XS_SRV4" "$WWW" "$E2E_TMP/got-v6-4" 8080/f_65536 8080/f_1460 || return 1
	wait "$p6" || { WHY="fetching over IPv6 failed (see curl)"; return 1; }
	stopped_cleanly v6 || return 1
	pcap_readable "$f" || return 1
	n=$(pcap_count "$f" 'tcp port 9090')
	[ "$n" -eq 0 ] || { WHY="$n packets of port 9090 in the pcap"; return 1; }
	n=$(pcap_count "$f" 'ip')
	[ "$n" -eq 0 ] || { WHY="$n IPv4 packets in the pcap of an IPv6 filter"; return 1; }
	n=$(pcap_count "$f" 'ip6 and tcp port 8080')
	[ "$n" -gt 0 ] || { WHY="no IPv6 packet of port 8080 in the pcap"; return 1; }
	tcpflow_dir "$f" "$E2E_TMP/flows-v6" || return 1
	WHY=$(check_flows "$E2E_TMP/flows-v6" "$XS_SRV6" 8080 "$WWW/8080" "${NAMES[@]}") || return 1
}

# --direction in|out: only what arrives at / leaves the capturing end.
t_direction()
{
	local dir=$1 f=$E2E_TMP/dir-$1.pcap from_srv to_srv total

	xs_start "dir-$dir" "$XS_IF" -p 8080 --direction "$dir" -w "$f" || return 1
	fetch_all "$XS_SRV4" "$WWW" "$E2E_TMP/got-dir-$dir" 8080/f_1048576 8080/f_1 9090/f_65536 ||
		return 1
	stopped_cleanly "dir-$dir" || return 1
	pcap_readable "$f" || return 1
	from_srv=$(pcap_count "$f" "src host $XS_SRV4 and src port 8080 and dst host $XS_HOST4")
	to_srv=$(pcap_count "$f" "src host $XS_HOST4 and dst host $XS_SRV4 and dst port 8080")
	total=$(pcap_count "$f")
	if [ "$dir" = in ]; then
		[ "$from_srv" -gt 0 ] || { WHY="no packet from the server (arriving) captured"; return 1; }
		[ "$to_srv" -eq 0 ] || { WHY="$to_srv packets leaving the capturing end captured"; return 1; }
		[ "$total" -eq "$from_srv" ] || { WHY="$((total - from_srv)) unexpected packets"; return 1; }
	else
		[ "$to_srv" -gt 0 ] || { WHY="no packet to the server (leaving) captured"; return 1; }
		[ "$from_srv" -eq 0 ] || { WHY="$from_srv packets arriving at the capturing end captured"; return 1; }
		[ "$total" -eq "$to_srv" ] || { WHY="$((total - to_srv)) unexpected packets"; return 1; }
	fi
}

# -a HOST/32 alone: both ports of that host.
t_addr_host()
{
	local f=$E2E_TMP/addr.pcap n

	xs_start addr "$XS_IF" -a "$XS_SRV4/32" -w "$f" || return 1
	fetch_all "$XS_SRV4" "$WWW" "$E2E_TMP/got-addr" 8080/f_65536 9090/f_65536 8080/f_1 9090/f_1 ||
		return 1
	stopped_cleanly addr || return 1
	pcap_readable "$f" || return 1
	n=$(pcap_count "$f" 'tcp port 8080')
	[ "$n" -gt 0 ] || { WHY="no packet of port 8080 in the pcap"; return 1; }
	n=$(pcap_count "$f" 'tcp port 9090')
	[ "$n" -gt 0 ] || { WHY="no packet of port 9090 in the pcap"; return 1; }
	n=$(pcap_count "$f" "not host $XS_SRV4")
	[ "$n" -eq 0 ] || { WHY="$n packets not to or from $XS_SRV4"; return 1; }
	tcpflow_dir "$f" "$E2E_TMP/flows-addr" || return 1
	WHY=$(check_flows "$E2E_TMP/flows-addr" "$XS_SRV4" 9090 "$WWW/9090" f_65536 f_1) || return 1
}

# -a on a network nobody uses: a valid pcap with no packet while traffic flows
# past the program.
t_addr_other_net()
{
	local f=$E2E_TMP/none.pcap n seen other

	other="198.19.${XS_NET4##*.}.0/24"
	xs_start none "$XS_IF" -a "$other" -w "$f" || return 1
	fetch_all "$XS_SRV4" "$WWW" "$E2E_TMP/got-none" 8080/f_1048576 9090/f_65536 || return 1
	stopped_cleanly none || return 1
	pcap_readable "$f" || return 1
	n=$(pcap_count "$f")
	[ "$n" -eq 0 ] || { WHY="$n packets captured with -a $other"; return 1; }
	seen=$(sed -n 's/^\([0-9]*\) packets seen by the kernel program.*/\1/p' "$E2E_TMP/none.err")
	# 1.06 MB went past it: at least 17 packets of 64 KiB (skb mode sees GSO packets whole)
	# and the ACKs that went back
	[ "${seen:-0}" -gt 30 ] ||
		{ WHY="the kernel program saw only '${seen}' packets: did the traffic flow past it?"; return 1; }
}

# -o DIR (with -w): tcpflow's names and, file for file, tcpflow's bytes from the pcap
# of the same run; and each response complete.
t_output_dir()
{
	local f=$E2E_TMP/odir.pcap d=$E2E_TMP/odir t=$E2E_TMP/flows-odir a b

	mkdir -p "$d"
	xs_start odir "$XS_IF" -p 8080 -o "$d" -w "$f" || return 1
	fetch_all "$XS_SRV4" "$WWW" "$E2E_TMP/got-odir" "${ITEMS_ALL[@]}" || return 1
	stopped_cleanly odir || return 1
	WHY=$(check_flows "$d" "$XS_SRV4" 8080 "$WWW/8080" "${NAMES[@]}") ||
		{ WHY="-o $d: $WHY"; return 1; }
	tcpflow_dir "$f" "$t" || return 1
	a=$(find "$d" -mindepth 1 -printf '%f\n' | sort)
	b=$(find "$t" -mindepth 1 ! -name report.xml -printf '%f\n' | sort)
	[ "$a" = "$b" ] ||
		{ WHY="file names differ from tcpflow's: $(diff <(echo "$a") <(echo "$b") | grep '^[<>]' | head -n 4 | tr '\n' ' ')"; return 1; }
	[ -n "$a" ] || { WHY="no flow file in $d"; return 1; }
	for n in $a; do
		cmp -s "$d/$n" "$t/$n" ||
			{ WHY="$n: $(stat -c %s "$d/$n") bytes differ from tcpflow's $(stat -c %s "$t/$n")"; return 1; }
	done
}

# -o while a connection stays open: what it carried is in its files within the load loop's
# one-second flush, not only when the stream ends (the files sink gathers data in buffers).
t_output_open_stream()
{
	local d=$E2E_TMP/open flag=$E2E_TMP/open.flag req resp i cpid spid

	mkdir -p "$d"
	ip netns exec "$XS_NS" python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 7070))
s.listen(1)
c, _ = s.accept()
d = b""
while len(d) < 5000:
    d += c.recv(65536)
c.sendall(b"R" * 7000)
c.recv(1)  # until the client closes
' "$XS_SRV4" >"$E2E_TMP/open-srv.log" 2>&1 &
	spid=$!
	E2E_PIDS+=("$spid")
	xs_netns_wait_listen 7070 10 || { WHY="the test server did not listen on 7070"; return 1; }
	xs_start open "$XS_IF" -p 7070 -o "$d" || return 1
	python3 -c '
import socket, sys, time
c = socket.create_connection((sys.argv[1], 7070))
c.sendall(b"Q" * 5000)
got = b""
while len(got) < 7000:
    got += c.recv(65536)
open(sys.argv[2], "w").write("ok")
time.sleep(float(sys.argv[3]))
c.close()
' "$XS_SRV4" "$flag" 6 >"$E2E_TMP/open-cli.log" 2>&1 &
	cpid=$!
	E2E_PIDS+=("$cpid")
	wait_for 10 test -s "$flag" || { WHY="the client did not get its 7000 bytes"; return 1; }
	# the connection is open for 6 s more: its bytes must show within the 1 s flush
	for i in $(seq 40); do
		# bytes of Q in the request file, of R in the response file
		req=$(cat "$d"/*.07070 2>/dev/null | tr -cd Q | wc -c)
		resp=$(cat "$d"/*.07070-* 2>/dev/null | tr -cd R | wc -c)
		[ "$req" = 5000 ] && [ "$resp" = 7000 ] && break
		sleep 0.1
	done
	kill -0 "$cpid" 2>/dev/null || { WHY="the connection closed before the check"; return 1; }
	[ "$req" = 5000 ] && [ "$resp" = 7000 ] ||
		{ WHY="4 s into an open connection the files hold $req of 5000 request and $resp of 7000 response bytes"; return 1; }
	wait "$cpid"
	stopped_cleanly open || return 1
	[ "$(cat "$d"/*.07070 | wc -c)" = 5000 ] && [ "$(cat "$d"/*.07070-* | wc -c)" = 7000 ] ||
		{ WHY="the files hold other bytes than the 5000 Q and 7000 R sent"; return 1; }
}

# -j: JSON lines, inbound/outbound base64 of the request and the response, every
# stream closed.
t_json()
{
	local out=$E2E_TMP/json.out

	xs_start json "$XS_IF" -p 8080 -j || return 1
	fetch_all "$XS_SRV4" "$WWW" "$E2E_TMP/got-json" "${ITEMS_ALL[@]}" || return 1
	stopped_cleanly json || return 1
	WHY=$(python3 - "$out" "$XS_SRV4" "$WWW/8080" "${NAMES[@]}" <<'EOF'
import base64, json, os, sys
out, srv, www = sys.argv[1:4]
names = sys.argv[4:]
objs = []
for i, line in enumerate(open(out, 'rb'), 1):
    if not line.strip():
        continue
    try:
        objs.append(json.loads(line))
    except ValueError as e:
        print(f'line {i} is not JSON: {e}: {line[:80]!r}')
        sys.exit(1)
if not objs:
    print('no JSON line on stdout')
    sys.exit(1)
keys = ('source_address', 'destination_address', 'source_port', 'destination_port',
        'inbound', 'outbound')
for o in objs:
    missing = [k for k in keys if k not in o]
    if missing:
        print(f'object without {missing}: {str(o)[:120]}')
        sys.exit(1)
    if o.get('state', 'closed') != 'closed':
        print(f'stream {o.get("id")} is {o.get("state")}, not closed')
        sys.exit(1)
    if o['destination_port'] != 8080 or o['destination_address'] != srv:
        print(f'a stream not to {srv}:8080: {o["source_address"]}:{o["source_port"]} -> '
              f'{o["destination_address"]}:{o["destination_port"]}')
        sys.exit(1)
bad = []
for n in names:
    want = open(os.path.join(www, n), 'rb').read()
    hit = [o for o in objs if f'GET /{n} HTTP/1.'.encode() in base64.b64decode(o['inbound'])]
    if not hit:
        bad.append(f'no stream whose inbound has GET /{n}')
        continue
    resp = base64.b64decode(hit[0]['outbound'])
    head, sep, body = resp.partition(b'\r\n\r\n')
    if body != want:
        bad.append(f'outbound body for {n} is {len(body)} bytes, not the {len(want)}-byte file')
if bad:
    print('; '.join(bad))
    sys.exit(1)
EOF
) || return 1
}

# -w -: the pcap on stdout, readable by tcpdump, nothing else mixed in.
t_pcap_stdout()
{
	local f=$E2E_TMP/stdout.out n

	xs_start stdout "$XS_IF" -p 8080 -w - || return 1
	fetch_all "$XS_SRV4" "$WWW" "$E2E_TMP/got-stdout" 8080/f_1048576 9090/f_65536 || return 1
	stopped_cleanly stdout || return 1
	pcap_readable "$f" || return 1
	n=$(pcap_count "$f" 'tcp port 8080')
	[ "$n" -gt 0 ] || { WHY="no packet of port 8080 in the pcap on stdout"; return 1; }
	tcpflow_dir "$f" "$E2E_TMP/flows-stdout" || return 1
	WHY=$(check_flows "$E2E_TMP/flows-stdout" "$XS_SRV4" 8080 "$WWW/8080" f_1048576) || return 1
}

# Default output: a summary line per finished stream, each closed, with the
# response's byte count.
t_text_streams()
{
	local out=$E2E_TMP/text.out n s lines

	xs_start text "$XS_IF" -p 8080 || return 1
	fetch_all "$XS_SRV4" "$WWW" "$E2E_TMP/got-text" "${ITEMS_ALL[@]}" || return 1
	stopped_cleanly text || return 1
	lines=$(grep "^stream .* > $XS_SRV4:8080 " "$out")
	n=$(grep -c . <<<"$lines")
	[ "$n" -eq "${#NAMES[@]}" ] ||
		{ WHY="$n stream lines for ${#NAMES[@]} connections to 8080: $(head -c 200 "$out")"; return 1; }
	n=$(grep -c ' closed ' <<<"$lines")
	[ "$n" -eq "${#NAMES[@]}" ] || { WHY="only $n of the stream lines say closed"; return 1; }
	n=$(grep -c ' gaps=0 ' <<<"$lines")
	[ "$n" -eq "${#NAMES[@]}" ] || { WHY="$((${#NAMES[@]} - n)) streams with gaps"; return 1; }
	for s in "${SIZES[@]}"; do
		# the response is the headers plus the file: more than s bytes server to client
		grep -qE " s2c=($s|[0-9]{${#s},})B/" <<<"$lines" ||
			{ WHY="no stream with $s or more bytes server to client"; return 1; }
	done
	grep -q "$XS_SRV4.9090\|$XS_SRV4:9090" "$out" && { WHY="port 9090 in the text output"; return 1; }
	return 0
}

if ! setup; then
	WHY="setting up the namespace and servers failed"
	e2e_result setup 1
	e2e_finish
	exit 1
fi

run_test ipv4_port_8080 t_ipv4_port
run_test ipv4_port_8080_native t_ipv4_port native
run_test ipv4_port_8080_skb t_ipv4_port skb
run_test ipv6_addr_port_8080 t_ipv6_addr_port
run_test direction_in t_direction in
run_test direction_out t_direction out
run_test addr_host_both_ports t_addr_host
run_test addr_other_net_captures_nothing t_addr_other_net
run_test output_dir_matches_tcpflow t_output_dir
run_test output_dir_open_stream_flushed t_output_open_stream
run_test json_lines t_json
run_test pcap_to_stdout t_pcap_stdout
run_test default_text_stream_lines t_text_streams
e2e_finish
