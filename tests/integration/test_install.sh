#!/usr/bin/env bash
# `make install DESTDIR=... PREFIX=...` produces the tree a Debian
# administrator expects: binaries in sbin/bin, the sample config in
# /etc/rapport (never overwritten), templates where the config points, the
# unit (paths substituted, verified, hardened), the sysusers.d and
# tmpfiles.d entries, and man pages that render without warnings.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
source "$T_LIB_DIR/rapport.sh"

D=$T_TMP/root
P=/usr/local
# `make install` runs in a private copy of the tree: a PREFIX other than
# the build's relinks rapportd and rapportctl in place, and in $T_ROOT those
# are the binaries that the clock-bound scripts (run by run.sh beside this
# one) execute meanwhile; the umask 077 install also left them mode 0700.
# tar keeps the mtimes, so only what the paths change is rebuilt.
SRC=$T_TMP/src
mkdir "$SRC"
tar -C "$T_ROOT" --exclude=./.git -cf - . | tar -C "$SRC" -xpf -
assert_exit 0 "make install DESTDIR PREFIX=$P" -- make -C "$SRC" install DESTDIR="$D" PREFIX="$P"

mode() { stat -c %a "$1" 2>/dev/null || echo missing; }
assert_eq 755 "$(mode "$D$P/sbin/rapportd")" "rapportd in sbin, mode 755"
assert_eq 755 "$(mode "$D$P/bin/rapportctl")" "rapportctl in bin, mode 755"
assert_exit 0 "installed rapportd runs" -- "$D$P/sbin/rapportd" --version
assert_exit 0 "installed rapportctl runs" -- "$D$P/bin/rapportctl" --version

# ---- templates -----------------------------------------------------------
want=$(cd "$T_ROOT/templates" && ls -- *.mustache | sort | tr '\n' ' ')
got=$(cd "$D$P/share/rapport/templates" 2>/dev/null && ls -- *.mustache | sort | tr '\n' ' ')
assert_eq "$want" "$got" "every template installed in share/rapport/templates"
bad=$(find "$D$P/share/rapport/templates" -type f ! -perm 644 2>/dev/null)
assert_eq "" "$bad" "templates mode 644"
for f in "$T_ROOT"/templates/*.mustache; do
    if ! cmp -s "$f" "$D$P/share/rapport/templates/${f##*/}"; then
        t_fail "templates installed unchanged" "${f##*/} differs"
        break
    fi
done

# ---- configuration -------------------------------------------------------
CONF=$D/etc/rapport/rapport.conf
assert_eq 640 "$(mode "$CONF")" "sample config in /etc/rapport, mode 640"
assert_contains "$(cat "$CONF" 2>/dev/null)" "dir = \"$P/share/rapport/templates\"" "the config points at the installed templates"
# The installed binaries accept the installed sample config and templates.
sed "s|\"$P/share/rapport/templates\"|\"$D$P/share/rapport/templates\"|" "$CONF" >"$T_TMP/sample.conf"
assert_exit 0 "rapportd -n accepts the sample config" -- env -u CREDENTIALS_DIRECTORY "$D$P/sbin/rapportd" -n --config "$T_TMP/sample.conf"
assert_contains "$T_OUT" "configuration OK" "rapportd -n says configuration OK"

printf '\n# local edit: keep me\n' >>"$CONF"
chmod 0600 "$CONF"
assert_exit 0 "second make install" -- make -C "$SRC" install DESTDIR="$D" PREFIX="$P"
assert_contains "$(cat "$CONF")" "# local edit: keep me" "second install keeps the edited config"
assert_eq 600 "$(mode "$CONF")" "second install keeps the config's mode"

# ---- systemd unit --------------------------------------------------------
UNIT=$D/lib/systemd/system/rapportd.service
assert_eq 644 "$(mode "$UNIT")" "unit in lib/systemd/system"
unit=$(cat "$UNIT" 2>/dev/null)
assert_eq "" "$(grep -o '@[A-Z_]*@' "$UNIT" 2>/dev/null | sort -u | tr '\n' ' ')" "no placeholder left in the unit"
assert_contains "$unit" $'\nExecStart='"$P"$'/sbin/rapportd --config /etc/rapport/rapport.conf\n' "ExecStart with substituted paths"
for c in smtp-password sms-token db-password; do
    assert_contains "$unit" $'\nLoadCredential='"$c:/etc/rapport/$c"$'\n' "LoadCredential=$c from /etc/rapport"
done
for kv in Type=notify WatchdogSec=2min Restart=on-failure User=rapport Group=rapport 'ExecReload=/bin/kill -HUP $MAINPID' \
    ProtectSystem=strict CapabilityBoundingSet= UMask=0077 'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6'; do
    assert_contains "$unit" $'\n'"$kv"$'\n' "unit sets $kv"
done
# The repository's unit is a real unit for the default directories, not a
# template: it passes systemd-analyze as it stands (given a binary there).
assert_eq "" "$(grep -o '@[A-Z_]*@' "$T_ROOT/systemd/rapportd.service" | sort -u | tr '\n' ' ')" "no placeholder in the repository's unit"
mkdir -p "$T_TMP/repo-unit"
sed "s|^ExecStart=/usr/local/sbin/rapportd |ExecStart=$D$P/sbin/rapportd |" "$T_ROOT/systemd/rapportd.service" >"$T_TMP/repo-unit/rapportd.service"
assert_exit 0 "the repository's unit passes systemd-analyze verify" -- \
    env MANPATH="$D$P/share/man" systemd-analyze verify "$T_TMP/repo-unit/rapportd.service"
assert_exit 0 "the repository's unit passes systemd-analyze security" -- \
    systemd-analyze security --offline=true --threshold=20 "$T_ROOT/systemd/rapportd.service"
# verify needs ExecStart to exist and the man pages to be found: point it at
# the installed binary and man pages.
sed "s|^ExecStart=$P/sbin/|ExecStart=$D$P/sbin/|" "$UNIT" >"$T_TMP/rapportd.service"
assert_exit 0 "systemd-analyze verify (documentation included)" -- \
    env MANPATH="$D$P/share/man" systemd-analyze verify "$T_TMP/rapportd.service"
assert_exit 0 "systemd-analyze security: exposure at most 2.0" -- \
    systemd-analyze security --offline=true --threshold=20 "$T_TMP/rapportd.service"
exposure=$(grep -o 'Overall exposure level for rapportd.service: [0-9.]*' <<<"$T_OUT" | awk '{print $NF}')
if [[ -n $exposure ]] && awk -v e="$exposure" 'BEGIN { exit !(e <= 2.0) }'; then
    t_pass "exposure $exposure (OK or better)"
else
    t_fail "exposure at most 2.0" "${exposure:-not found}: ${T_OUT: -300}"
fi

# ---- user and file ownership ---------------------------------------------
SYSUSERS=$D/usr/lib/sysusers.d/rapport.conf
assert_eq 644 "$(mode "$SYSUSERS")" "sysusers.d/rapport.conf installed"
mkdir -p "$T_TMP/sysroot/etc"
assert_exit 0 "systemd-sysusers accepts it" -- systemd-sysusers --root="$T_TMP/sysroot" "$SYSUSERS"
assert_contains "$(cat "$T_TMP/sysroot/etc/passwd" 2>/dev/null)" "rapport:x:" "it creates user rapport"
rgid=$(awk -F: '$1 == "rapport" { print $3 }' "$T_TMP/sysroot/etc/group" 2>/dev/null)
assert_contains "$(awk -F: '$1 == "rapport" { print $7 }' "$T_TMP/sysroot/etc/passwd" 2>/dev/null)" "nologin" "with no login shell"

# The daemon's user must be able to read its config (root:rapport 0640);
# tmpfiles.d sets that, and keeps the secret files root-only.
TMPFILES=$D/usr/lib/tmpfiles.d/rapport.conf
assert_eq 644 "$(mode "$TMPFILES")" "tmpfiles.d/rapport.conf installed"
assert_eq "" "$(grep -o '@[A-Z_]*@' "$TMPFILES" 2>/dev/null | sort -u | tr '\n' ' ')" "no placeholder left in tmpfiles.d"
SR=$T_TMP/sysroot
mkdir -p "$SR/etc/rapport"
cp "$CONF" "$SR/etc/rapport/rapport.conf"
printf 's3cret\n' >"$SR/etc/rapport/db-password"
chmod 0644 "$SR/etc/rapport/db-password"
assert_exit 0 "systemd-tmpfiles --create applies it" -- systemd-tmpfiles --root="$SR" --create "$TMPFILES"
assert_eq "0:${rgid:-?}:640" "$(stat -c %u:%g:%a "$SR/etc/rapport/rapport.conf")" "config becomes root:rapport 0640"
assert_eq "0:${rgid:-?}:750" "$(stat -c %u:%g:%a "$SR/etc/rapport")" "/etc/rapport becomes root:rapport 0750"
assert_eq "0:0:600" "$(stat -c %u:%g:%a "$SR/etc/rapport/db-password")" "secret files become root-only"
assert_eq "" "$(ls "$SR/etc/rapport" | grep -v -e rapport.conf -e db-password)" "tmpfiles creates no secret file"

# ---- man pages -----------------------------------------------------------
for page in man8/rapportd.8 man8/rapportctl.8 man5/rapport.conf.5; do
    f=$D$P/share/man/$page
    assert_eq 644 "$(mode "$f")" "$page installed"
    [[ -f $f ]] || continue
    warnings=$(groff -t -man -Tutf8 -ww -z "$f" 2>&1)
    assert_eq "" "$warnings" "$page: groff -ww reports nothing"
    if command -v mandoc >/dev/null; then
        assert_eq "" "$(mandoc -Tlint -Wwarning "$f" 2>&1)" "$page: mandoc -Tlint reports nothing"
    fi
    assert_contains "$(MANWIDTH=80 man -l "$f" 2>/dev/null)" "SEE ALSO" "$page renders with man -l"
done
section=$(MANWIDTH=200 man -l "$D$P/share/man/man5/rapport.conf.5" 2>/dev/null)
for key in time_zone locale instance database.conninfo database.password_file templates.dir \
    email.smtp_url email.from email.username email.password_file email.tls email.ca_file \
    email.redirect_to email.unsubscribe_mailto email.unsubscribe_url email.connections email.rate \
    email.timeout sms.gateway_url sms.format sms.from sms.username sms.token_file sms.connections \
    sms.rate sms.timeout sms.quiet_hours sms.max_segments outbox.lease outbox.batch outbox.retry \
    outbox.max_attempts outbox.max_age outbox.retention_days; do
    grep -qE "^ +$key( |$)" <<<"$section" || t_fail "rapport.conf(5) documents $key" "not found"
done
t_pass "rapport.conf(5) documents every global setting"

# ---- only the expected top-level directories -----------------------------
assert_eq "etc lib usr" "$(cd "$D" && ls | sort | tr '\n' ' ' | sed 's/ $//')" "nothing installed outside etc, lib, usr"
assert_eq "lib local" "$(cd "$D/usr" && ls | sort | tr '\n' ' ' | sed 's/ $//')" "usr/ holds only lib (systemd) and local"

# ---- another prefix ------------------------------------------------------
D2=$T_TMP/root2
assert_exit 0 "make install PREFIX=/opt/rapport" -- make -C "$SRC" install DESTDIR="$D2" PREFIX=/opt/rapport
assert_contains "$(cat "$D2/lib/systemd/system/rapportd.service" 2>/dev/null)" $'\nExecStart=/opt/rapport/sbin/rapportd --config /etc/rapport/rapport.conf\n' \
    "other prefix: ExecStart follows PREFIX"
assert_contains "$(cat "$D2/etc/rapport/rapport.conf" 2>/dev/null)" 'dir = "/opt/rapport/share/rapport/templates"' \
    "other prefix: the sample config points at its templates"
assert_eq 644 "$(mode "$D$P/share/rapport/templates/README.md")" "the template guide installed beside the templates"

# ---- a strict umask: installed files keep their modes ----------------------
D3=$T_TMP/root3
assert_exit 0 "make install under umask 077" -- bash -c "umask 077 && make -C '$SRC' install DESTDIR='$D3' PREFIX='$P'"
assert_eq 644 "$(mode "$D3/lib/systemd/system/rapportd.service")" "umask 077: the unit is 644"
assert_eq 644 "$(mode "$D3/usr/lib/tmpfiles.d/rapport.conf")" "umask 077: the tmpfiles file is 644"

t_summary
