#!/bin/sh
# CUPS with a cups-pdf queue named PDF, for the kitchen-ticket tests through the system's
# printing (issue 15): Debian's cupsd on 127.0.0.1 (and its local socket) only, started without
# systemd. Idempotent: installs what is missing, starts cupsd unless it answers, adds the queue
# unless it exists.
#
# cups-pdf writes each job as a PDF under /var/spool/cups-pdf/<user>/ (the `Out` line below; the
# Debian default, ${HOME}/PDF, would follow the submitting user's home from the password file).
set -eu

START_TIMEOUT_S=${CUPS_START_TIMEOUT_S:-60}
OUT_DIR=/var/spool/cups-pdf

"$(dirname "$0")/../install-without-starting" cups printer-driver-cups-pdf poppler-utils

# Loopback only: replace the Listen/Port lines, keep the rest of Debian's configuration.
conf=/etc/cups/cupsd.conf
if ! grep -q '^Listen 127.0.0.1:631$' "$conf" || grep -Eq '^(Port |Listen (localhost|\*|0\.0\.0\.0|\[))' "$conf"; then
    sed -i -e '/^Port /d' -e '/^Listen /d' "$conf"
    printf 'Listen 127.0.0.1:631\nListen /run/cups/cups.sock\n' >> "$conf"
fi
# Every user's PDFs in one known place.
pdfconf=/etc/cups/cups-pdf.conf
if ! grep -q "^Out $OUT_DIR/\${USER}\$" "$pdfconf"; then
    sed -i -e '/^Out /d' "$pdfconf"
    printf 'Out %s/${USER}\n' "$OUT_DIR" >> "$pdfconf"
fi
mkdir -p "$OUT_DIR" /run/cups

if lpstat -r 2>/dev/null | grep -q 'is running'; then
    echo "cups: already running"
else
    cupsd
fi
deadline=$(( $(date +%s) + START_TIMEOUT_S ))
until lpstat -r 2>/dev/null | grep -q 'is running'; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
        echo "cups: did not start within ${START_TIMEOUT_S} s; last log lines:" >&2
        tail -n 40 /var/log/cups/error_log >&2 || true
        exit 1
    fi
    sleep 0.5
done

if ! lpstat -p PDF >/dev/null 2>&1; then
    lpadmin -p PDF -v cups-pdf:/ -m lsb/usr/cups-pdf/CUPS-PDF_opt.ppd -E
fi
# Qt sends PDF; the queue takes PostScript. Poppler's pdftocairo keeps the text extractable
# (pdftotext finds the order number in the result); the default pdftops/gs turn it into shapes.
lpadmin -p PDF -o pdftops-renderer-default=pdftocairo
cupsenable PDF
cupsaccept PDF
echo "cups: up on 127.0.0.1:631; queue PDF writes to $OUT_DIR/<user>/"
