# portsync: build, test and install as a systemd service.
#
#   make                 build ./portsync
#   make test            the tests, as CI runs them
#   sudo make install    binary, unit, sysusers entry and example config
#
# DESTDIR and PREFIX work as usual for packaging.

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
UNITDIR    ?= /etc/systemd/system
SYSUSERSDIR ?= /usr/lib/sysusers.d
CONFDIR    ?= /etc/portsync

.PHONY: build test install uninstall

build:
	go build -o portsync ./cmd/portsync

test:
	go vet ./...
	go test -race ./...

install: build
	install -D -m 0755 portsync $(DESTDIR)$(BINDIR)/portsync
	install -D -m 0644 systemd/portsync.service $(DESTDIR)$(UNITDIR)/portsync.service
	sed -i 's|/usr/local/bin/portsync|$(BINDIR)/portsync|g' $(DESTDIR)$(UNITDIR)/portsync.service
	install -D -m 0644 systemd/portsync.sysusers $(DESTDIR)$(SYSUSERSDIR)/portsync.conf
	install -d -m 0750 $(DESTDIR)$(CONFDIR)
	# The example never overwrites a configuration already there.
	test -e $(DESTDIR)$(CONFDIR)/portsync.yaml || install -m 0640 systemd/portsync.yaml.example $(DESTDIR)$(CONFDIR)/portsync.yaml
	@if [ -z "$(DESTDIR)" ]; then \
		systemd-sysusers $(SYSUSERSDIR)/portsync.conf && \
		systemctl daemon-reload && \
		echo "installed; edit $(CONFDIR)/portsync.yaml, put mqtt.pass and api.token in $(CONFDIR), then: systemctl enable --now portsync"; \
	fi

uninstall:
	-systemctl disable --now portsync
	rm -f $(DESTDIR)$(BINDIR)/portsync $(DESTDIR)$(UNITDIR)/portsync.service $(DESTDIR)$(SYSUSERSDIR)/portsync.conf
	@echo "kept $(CONFDIR) and /var/lib/portsync"
