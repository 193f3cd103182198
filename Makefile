# portsync: build, test and install as a systemd service.
#
#   make                 build ./portsync (as yourself, not root)
#   make test            the tests, as CI runs them
#   sudo make install    copy the built binary, unit, sysusers entry and
#                        example config; create the portsync user
#   make deb             dist/portsync_VERSION_amd64.deb (nfpm, pinned below)
#
# make install never builds: run make first, as yourself. DESTDIR and PREFIX
# work as usual for packaging; with DESTDIR set, no user is created and
# systemd is not told (the package does that), and the owners are only set
# when make runs as root and the portsync group exists.

PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
UNITDIR     ?= /etc/systemd/system
SYSUSERSDIR ?= /usr/lib/sysusers.d
CONFDIR     ?= /etc/portsync
# The built binary make install copies.
BINARY      ?= portsync
# The unit's User= and Group= (systemd/portsync.service, portsync.sysusers).
SERVICE     := portsync

# What `portsync version` and the package say. VERSION is the tag on HEAD
# (v1.2.0 -> 1.2.0), else 0.0~gitDATE.COMMIT, which sorts before any
# release; REVISION is the commit, -dirty with uncommitted changes. The
# binary also reads the commit git stamps itself (vcs.revision) where the
# build can; these ldflags cover builds that cannot (-buildvcs=false).
VERSION     ?= $(shell v=$$(git describe --tags --exact-match --match 'v[0-9]*' 2>/dev/null) && echo $${v\#v} || \
                 git log -1 --format='0.0~git%cd.%h' --date=format:%Y%m%d 2>/dev/null || echo 0.0~unknown)
REVISION    ?= $(shell git rev-parse HEAD 2>/dev/null)$(shell git status --porcelain 2>/dev/null | grep -q . && echo -dirty)
LDFLAGS     := -X github.com/portsync/portsync/internal/buildinfo.version=$(VERSION) \
               -X github.com/portsync/portsync/internal/buildinfo.revision=$(REVISION)
# make deb: nfpm is run at a pinned version with `go run pkg@version`, so it
# is not a dependency of the portsync module (go.mod stays as it is); DIST
# is where the package goes.
NFPM_VERSION ?= v2.48.0
DIST        ?= dist

.PHONY: all build test install uninstall deb

all: build

build:
	@if [ "$$(id -u)" = 0 ]; then echo "make build: building as root; build as yourself, then sudo make install" >&2; fi
	go build -ldflags "$(LDFLAGS)" -o $(BINARY) ./cmd/portsync

# The Debian package: the binary (static, /usr/bin), the unit, a drop-in that
# lets it write /var/spool/portsync, the sysusers entry, the example
# configuration as a conffile, the store and spool directories, the man page
# and the docs; postinst creates the user and sets the owners (see
# packaging/). Needs go and network to the Go module proxy the first time.
deb:
	rm -rf $(DIST)/stage
	mkdir -p $(DIST)/stage
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -ldflags "$(LDFLAGS)" -o $(DIST)/stage/portsync ./cmd/portsync
	sed 's|/usr/local/bin/portsync|/usr/bin/portsync|g' systemd/portsync.service > $(DIST)/stage/portsync.service
	$(DIST)/stage/portsync man | gzip -9n > $(DIST)/stage/portsync.1.gz
	VERSION='$(VERSION)' STAGE='$(DIST)/stage' go run github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION) \
		package --config packaging/nfpm.yaml --packager deb --target '$(DIST)/portsync_$(VERSION)_amd64.deb'
	rm -rf $(DIST)/stage

test:
	go vet ./...
	go test -race ./...

# Owners and modes (see the comment in systemd/portsync.service):
#   $(CONFDIR)               root:portsync 0750  the unit reads it as portsync;
#   $(CONFDIR)/portsync.yaml root:portsync 0640  systemd does not chown a
#                                                ConfigurationDirectory=
#   secrets (mqtt.user, mqtt.pass, api.token)    root:root 0600, written by the
#                                                operator; LoadCredential=
#                                                hands the unit a copy
install:
	@test -f "$(BINARY)" || { echo "make install: $(BINARY) is not built; run 'make build' first (as yourself, not root), then make install" >&2; exit 1; }
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" != 0 ]; then echo "make install: run as root (sudo make install), or set DESTDIR to stage the files" >&2; exit 1; fi
	install -D -m 0755 $(BINARY) $(DESTDIR)$(BINDIR)/portsync
	install -D -m 0644 systemd/portsync.service $(DESTDIR)$(UNITDIR)/portsync.service
	sed -i 's|/usr/local/bin/portsync|$(BINDIR)/portsync|g; s|/etc/portsync|$(CONFDIR)|g' $(DESTDIR)$(UNITDIR)/portsync.service
	install -D -m 0644 systemd/portsync.sysusers $(DESTDIR)$(SYSUSERSDIR)/portsync.conf
	@# The user first, so that the configuration can be given its group.
	@if [ -z "$(DESTDIR)" ] && ! getent passwd $(SERVICE) >/dev/null; then \
		if command -v systemd-sysusers >/dev/null; then \
			echo "systemd-sysusers $(SYSUSERSDIR)/portsync.conf"; \
			systemd-sysusers $(SYSUSERSDIR)/portsync.conf; \
		else \
			echo "useradd --system $(SERVICE)"; \
			useradd --system --user-group --no-create-home --home-dir /var/lib/portsync \
				--shell /usr/sbin/nologin --comment "portsync daemon" $(SERVICE); \
		fi; \
	fi
	install -d -m 0750 $(DESTDIR)$(CONFDIR)
	@# An existing configuration is kept, but given the owner and mode the unit needs.
	test -e $(DESTDIR)$(CONFDIR)/portsync.yaml || install -m 0640 systemd/portsync.yaml.example $(DESTDIR)$(CONFDIR)/portsync.yaml
	chmod 0640 $(DESTDIR)$(CONFDIR)/portsync.yaml
	@if [ "$$(id -u)" = 0 ] && getent group $(SERVICE) >/dev/null; then \
		echo "chown root:$(SERVICE) $(DESTDIR)$(CONFDIR) $(DESTDIR)$(CONFDIR)/portsync.yaml"; \
		chown root:$(SERVICE) $(DESTDIR)$(CONFDIR) $(DESTDIR)$(CONFDIR)/portsync.yaml; \
	else \
		echo "make install: owners not set (not root, or no $(SERVICE) group): $(CONFDIR) and its portsync.yaml must be root:$(SERVICE)" >&2; \
		if [ -z "$(DESTDIR)" ]; then exit 1; fi; \
	fi
	@if [ -z "$(DESTDIR)" ]; then \
		if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi; \
		echo "installed; edit $(CONFDIR)/portsync.yaml, write mqtt.user, mqtt.pass and api.token in $(CONFDIR) (root-only), then: systemctl enable --now portsync"; \
	fi

uninstall:
	-systemctl disable --now portsync
	rm -f $(DESTDIR)$(BINDIR)/portsync $(DESTDIR)$(UNITDIR)/portsync.service $(DESTDIR)$(SYSUSERSDIR)/portsync.conf
	@echo "kept $(CONFDIR), /var/lib/portsync and the portsync user"
