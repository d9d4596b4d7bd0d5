# Shared by the compat scripts (sourced): another project's repository,
# found or cloned, and Debian's packages for its suite. Nothing of that
# project is ever committed here.

# compat_repo TAG URL MIRROR CLONE [GIVEN]: sets $repo to a git directory
# that has TAG: GIVEN (a clone's work tree or git directory), the fetch
# tool's MIRROR, CLONE from an earlier run, or a fresh bare clone of URL
# into CLONE; exits 77 when none can be had.
compat_repo() {
	local tag=$1 url=$2 cand
	repo=
	for cand in "${5:-}" "$3" "$4"; do
		[ -n "$cand" ] || continue
		if git --git-dir="$cand" rev-parse -q --verify "$tag^{commit}" >/dev/null 2>&1; then
			repo=$cand
			return 0
		fi
		if git -C "$cand" rev-parse -q --verify "$tag^{commit}" >/dev/null 2>&1; then
			repo=$(cd "$cand" && cd "$(git rev-parse --git-dir)" && pwd)
			return 0
		fi
	done
	mkdir -p "$(dirname "$4")"
	if git clone -q --bare --filter=blob:none "$url" "$4" 2>/dev/null; then
		repo=$4
		return 0
	fi
	echo "SKIP: $url is not here and cannot be cloned"
	exit 77
}

# compat_need PACKAGE...: install the Debian packages that are missing
compat_need() {
	local need=() p SUDO=
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
	done
	[ ${#need[@]} -gt 0 ] || return 0
	[ "$(id -u)" = 0 ] || SUDO=sudo
	$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null || { echo "could not install ${need[*]}"; exit 1; }
}
