# Sourced by the install_*.sh scripts: apt_install PACKAGE... installs Debian packages
# quietly and without prompts, through sudo unless already root.

apt_install() {
    local sudo=
    if [[ $(id -u) -ne 0 ]]; then
        sudo=sudo
    fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq >/dev/null
    $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
