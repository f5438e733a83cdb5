# rapport — see README.md.  `make` builds, `make check` runs every test,
# `make demo` runs the main job on demo data.
VERSION      = 0.1.0
PREFIX      ?= /usr/local
DESTDIR     ?=
SYSCONFDIR  ?= /etc
BINDIR       = $(PREFIX)/bin
SBINDIR      = $(PREFIX)/sbin
DATADIR      = $(PREFIX)/share/rapport
MANDIR       = $(PREFIX)/share/man
UNITDIR     ?= /lib/systemd/system
SYSUSERSDIR ?= /usr/lib/sysusers.d
TMPFILESDIR ?= /usr/lib/tmpfiles.d

CC          ?= cc
PKGS         = libcurl libpq libconfig libsystemd json-c
DEB_PKGS     = build-essential pkg-config libcurl4-openssl-dev libpq-dev libconfig-dev \
               libsystemd-dev libjson-c-dev libcmocka-dev postgresql python3-aiosmtpd python3-croniter \
               tzdata curl ca-certificates jq man-db groff-base systemd procps
CFLAGS      ?= -O2 -g
ALL_CFLAGS   = -std=c17 -D_GNU_SOURCE -Wall -Wextra -Werror $(CFLAGS) \
               -Idaemon -Ijobs -Ibuild $(shell pkg-config --cflags $(PKGS) 2>/dev/null) \
               -DRAPPORT_TEMPLATES_DIR='"$(DATADIR)/templates"' \
               -DRAPPORT_CONFIG='"$(SYSCONFDIR)/rapport/rapport.conf"' -DRAPPORT_VERSION='"$(VERSION)"' -DRAPPORT_SOURCE_DIR='"$(CURDIR)"'
LIBS         = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -pthread

# Modules shared by both programs.
CORE_SRCS = daemon/util.c daemon/log.c daemon/config.c daemon/db.c daemon/migrate.c \
            daemon/tz.c daemon/cron.c daemon/mustache.c daemon/templates.c \
            daemon/mime.c daemon/sms_text.c daemon/outbox.c daemon/planner.c \
            daemon/curl_glue.c daemon/channel_email.c daemon/channel_sms.c \
            daemon/dispatch.c daemon/scheduler.c daemon/preview.c daemon/smtp_pool.c \
            daemon/plan_worker.c daemon/db_worker.c daemon/json_doc.c \
            $(wildcard jobs/*.c)
MIGRATIONS = $(sort $(wildcard etc/migrations/*.sql))

OBJDIR = build
# `make V=1` shows full command lines.
Q = $(if $(V),,@)
say = $(if $(V),,@echo "  $(1)  $(2)";)
CORE_OBJS = $(patsubst %.c,$(OBJDIR)/%.o,$(CORE_SRCS)) $(OBJDIR)/migrations.o

.PHONY: all check check-asan check-valgrind unit-tests demo deps deps-check install clean faults
all: rapportd rapportctl

$(OBJDIR)/migrations.c: $(MIGRATIONS) daemon/embed.sh
	@mkdir -p $(OBJDIR)
	$(call say,GEN,$@)sh daemon/embed.sh $@ $(MIGRATIONS)

$(OBJDIR)/migrations.o: $(OBJDIR)/migrations.c
	$(call say,CC,$@)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(OBJDIR)/%.o: %.c $(wildcard daemon/*.h jobs/*.h)
	@mkdir -p $(dir $@)
	$(call say,CC,$@)$(CC) $(ALL_CFLAGS) -c $< -o $@

# The directories compiled in (templates, configuration): the objects that
# use them are rebuilt when they change, so `make install PREFIX=/usr` after
# a plain `make` does not install binaries looking under /usr/local.
PATHS_STAMP = $(OBJDIR)/paths.stamp
PATHS_NOW   = $(DATADIR) $(SYSCONFDIR) $(VERSION) $(CURDIR)
$(PATHS_STAMP): FORCE
	@mkdir -p $(OBJDIR)
	@echo '$(PATHS_NOW)' | cmp -s - $@ || echo '$(PATHS_NOW)' >$@
.PHONY: FORCE
FORCE:
$(OBJDIR)/daemon/config.o $(OBJDIR)/daemon/rapportd.o $(OBJDIR)/daemon/rapportctl.o: $(PATHS_STAMP)

rapportd: $(CORE_OBJS) $(OBJDIR)/daemon/rapportd.o
	$(call say,LD,$@)$(CC) $(ALL_CFLAGS) $^ $(LIBS) -lm -o $@

rapportctl: $(CORE_OBJS) $(OBJDIR)/daemon/rapportctl.o
	$(call say,LD,$@)$(CC) $(ALL_CFLAGS) $^ $(LIBS) -lm -o $@

# --- tests -----------------------------------------------------------------
# Unit tests link the same objects as the programs: once plain, once built
# with AddressSanitizer + UndefinedBehaviorSanitizer.
UNIT_TESTS = $(patsubst tests/unit/%.c,%,$(wildcard tests/unit/test_*.c))
SAN_FLAGS  = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
SANDIR     = build/san
SAN_OBJS   = $(patsubst %.c,$(SANDIR)/%.o,$(CORE_SRCS)) $(SANDIR)/migrations.o

$(SANDIR)/%.o: %.c $(wildcard daemon/*.h jobs/*.h)
	@mkdir -p $(dir $@)
	$(call say,CC,$@)$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -c $< -o $@

$(SANDIR)/migrations.o: $(OBJDIR)/migrations.c
	@mkdir -p $(dir $@)
	$(call say,CC,$@)$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -c $< -o $@

build/unit/%: tests/unit/%.c $(CORE_OBJS)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) $(ALL_CFLAGS) $< $(CORE_OBJS) $(LIBS) -lcmocka -lm -o $@

build/unit-san/%: tests/unit/%.c $(SAN_OBJS)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) $< $(SAN_OBJS) $(LIBS) -lcmocka -lm -o $@

# The sender's address check as a filter (tests/integration/test_email_rules.sh).
build/reference/email_address_valid: tests/reference/email_address_valid.c $(CORE_OBJS)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) $(ALL_CFLAGS) $< $(CORE_OBJS) $(LIBS) -lm -o $@

unit-tests: $(addprefix build/unit/,$(UNIT_TESTS)) $(addprefix build/unit-san/,$(UNIT_TESTS)) \
            build/reference/email_address_valid

# Objects are reused across builds, never treated as intermediates.
.SECONDARY: $(SAN_OBJS) $(CORE_OBJS)

# Every test: unit tests (plain and under ASan+UBSan) and the integration
# tests against real PostgreSQL, SMTP and HTTP servers.  Last line of output
# is "N passed, M failed".
check: deps-check
	@$(MAKE) --no-print-directory -j$$(nproc) all unit-tests
	@bash tests/run.sh

# The integration tests once more with both programs built with
# AddressSanitizer + UndefinedBehaviorSanitizer (any report fails the run:
# halt_on_error, and stderr is what the tests read).
ASAN_BIN = build/asan
$(ASAN_BIN)/%: $(SAN_OBJS) $(SANDIR)/daemon/%.o
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) $^ $(LIBS) -lm -o $@

check-asan: deps-check
	@$(MAKE) --no-print-directory -j$$(nproc) $(ASAN_BIN)/rapportd $(ASAN_BIN)/rapportctl
	@RAPPORT_BIN=$(CURDIR)/$(ASAN_BIN) ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:exitcode=99 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  bash tests/run.sh integration

# The integration tests once under valgrind memcheck (slow; not in check).
check-valgrind: deps-check
	$(call tool_dep,valgrind,valgrind)
	@$(MAKE) --no-print-directory -j$$(nproc) all
	@bash tests/valgrind.sh

# The fault suite at full size (10,000 messages a scenario, one-minute
# outages); `make check` runs a small version of it.  FAULTS="kill9 three"
# runs only those scenarios.
faults: deps-check
	@$(MAKE) --no-print-directory -j$$(nproc) all
	@FAULT_N=$${FAULT_N:-10000} FAULT_DOWN=$${FAULT_DOWN:-60} bash tests/faults/faults.sh

demo: deps-check
	@$(MAKE) --no-print-directory -j$$(nproc) all
	@bash etc/demo.sh

# apt-get install of $(1), refreshing the package lists first only when
# the install fails without them (a fresh image has none).  Shared with
# tests/bench.mk's tool_dep.
apt_install = DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(1) >/dev/null || \
	  { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(1) >/dev/null; }

# Installs what is missing (as root), or prints the command to run.
deps:
	@missing=$$(for p in $(DEB_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -z "$$missing" ]; then echo "deps: all Debian packages present"; \
	elif [ "$$(id -u)" = 0 ]; then \
	  echo "deps: installing$$(echo $$missing | sed 's/^/ /')"; \
	  $(call apt_install,$$missing); \
	else echo "Run as root:  apt-get install -y $$(echo $$missing)"; exit 1; fi

deps-check: deps

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR)/templates \
	           $(DESTDIR)$(SYSCONFDIR)/rapport $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) \
	           $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(DATADIR)/sql \
	           $(DESTDIR)$(TMPFILESDIR)
	install -m 0755 rapportd $(DESTDIR)$(SBINDIR)/rapportd
	install -m 0755 rapportctl $(DESTDIR)$(BINDIR)/rapportctl
	install -m 0644 templates/*.mustache templates/README.md $(DESTDIR)$(DATADIR)/templates/
	install -m 0644 etc/crm.sql etc/demo.sql $(DESTDIR)$(DATADIR)/sql/
	test -e $(DESTDIR)$(SYSCONFDIR)/rapport/rapport.conf || { \
	  sed 's|"/usr/local/share/rapport/templates"|"$(DATADIR)/templates"|' etc/rapport.conf > $(DESTDIR)$(SYSCONFDIR)/rapport/rapport.conf && \
	  chmod 0640 $(DESTDIR)$(SYSCONFDIR)/rapport/rapport.conf; }
	sed 's| /etc/rapport| $(SYSCONFDIR)/rapport|g' systemd/rapport.tmpfiles > $(DESTDIR)$(TMPFILESDIR)/rapport.conf
	chmod 0644 $(DESTDIR)$(TMPFILESDIR)/rapport.conf
	sed 's|/usr/local/sbin/rapportd|$(SBINDIR)/rapportd|g; s|/etc/rapport/|$(SYSCONFDIR)/rapport/|g' systemd/rapportd.service > $(DESTDIR)$(UNITDIR)/rapportd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/rapportd.service
	install -m 0644 systemd/rapport.sysusers $(DESTDIR)$(SYSUSERSDIR)/rapport.conf
	install -m 0644 daemon/*.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 daemon/*.8 $(DESTDIR)$(MANDIR)/man8/

clean:
	rm -rf $(OBJDIR) rapportd rapportctl
include tests/bench.mk
