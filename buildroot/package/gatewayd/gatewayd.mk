################################################################################
#
# gatewayd
#
################################################################################

# Built from the repository this external tree lives in: no download, so
# the source must carry vendor/ (`make vendor` in the repository root).
GATEWAYD_GIT = git -C $(BR2_EXTERNAL_BRANCHGW_PATH)
GATEWAYD_VERSION = $(shell $(GATEWAYD_GIT) describe --tags --always --dirty 2>/dev/null || echo dev)
GATEWAYD_SITE = $(BR2_EXTERNAL_BRANCHGW_PATH)/..
GATEWAYD_SITE_METHOD = local
GATEWAYD_LICENSE = Proprietary
# Leave the developer's build products and caches out of the copy.
GATEWAYD_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS = \
	--exclude /bin --exclude /.tools --exclude /.git --exclude /buildroot

GATEWAYD_GOMOD = github.com/branchgw/branchgw
GATEWAYD_BUILD_TARGETS = cmd/gatewayd cmd/gwctl
# The same stamp as `make build` (the date is the commit's, so the build
# is reproducible); -s -w strip like the Makefile.
GATEWAYD_LDFLAGS = -s -w \
	-X $(GATEWAYD_GOMOD)/gateway/version.Version=$(GATEWAYD_VERSION) \
	-X $(GATEWAYD_GOMOD)/gateway/version.Commit=$(shell $(GATEWAYD_GIT) rev-parse --short=12 HEAD 2>/dev/null) \
	-X $(GATEWAYD_GOMOD)/gateway/version.Date=$(shell $(GATEWAYD_GIT) log -1 --format=%cd --date=format:%Y-%m-%dT%H:%M:%SZ 2>/dev/null)
# SQLite comes from go-sqlite3's bundled amalgamation (the version the
# tests ran), without run-time extension loading on the appliance.
GATEWAYD_TAGS = sqlite_omit_load_extension

# The daemon's system user (Buildroot's makeusers format); the sysusers.d
# entry installed below says the same for systemd-sysusers.
define GATEWAYD_USERS
	gatewayd -1 gatewayd -1 * /var/lib/gatewayd - - branchgw gateway daemon
endef

define GATEWAYD_INSTALL_INIT_SYSTEMD
	$(INSTALL) -D -m 0644 $(@D)/systemd/gatewayd.service \
		$(TARGET_DIR)/usr/lib/systemd/system/gatewayd.service
	$(INSTALL) -D -m 0644 $(@D)/systemd/gatewayd-reboot.path \
		$(TARGET_DIR)/usr/lib/systemd/system/gatewayd-reboot.path
	$(INSTALL) -D -m 0644 $(@D)/systemd/gatewayd-reboot.service \
		$(TARGET_DIR)/usr/lib/systemd/system/gatewayd-reboot.service
	$(INSTALL) -D -m 0644 $(@D)/systemd/gatewayd.sysusers \
		$(TARGET_DIR)/usr/lib/sysusers.d/gatewayd.conf
	$(INSTALL) -D -m 0644 $(@D)/systemd/gatewayd.tmpfiles \
		$(TARGET_DIR)/usr/lib/tmpfiles.d/gatewayd.conf
	$(INSTALL) -D -m 0644 $(@D)/gateway/config/example.yaml \
		$(TARGET_DIR)/usr/share/doc/gatewayd/example.yaml
endef

$(eval $(golang-package))
