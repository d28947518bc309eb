# Shared by the .ci/setup.d scripts: source it, then call need_packages.

# need_packages installs the Debian packages that are not installed yet.
# Package scripts may not start daemons while it runs (policy-rc.d exit 101,
# removed again if we put it there): the tests start what they need
# themselves. Waits for the apt lock instead of failing on it.
need_packages() {
	local missing="" p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
	done
	[ -n "$missing" ] || return 0
	local made_policy=0
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod +x /usr/sbin/policy-rc.d
		made_policy=1
	fi
	apt-get -o DPkg::Lock::Timeout=600 update
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y $missing
	if [ "$made_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
}
