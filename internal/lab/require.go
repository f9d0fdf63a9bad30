package lab

import (
	"os"
	"os/exec"
	"testing"
)

// debianPackage maps a tool the lab or its users run to the Debian package
// that provides it, for skip messages.
var debianPackage = map[string]string{
	"qemu-system-x86_64": "qemu-system-x86",
	"qemu-img":           "qemu-utils",
	"busybox":            "busybox-static",
	"ip":                 "iproute2",
	"dnsmasq":            "dnsmasq",
	"apt-get":            "apt",
	"dpkg-deb":           "dpkg",
	"depmod":             "kmod",
	"xz":                 "xz-utils",
	"zstd":               "zstd",
	"ldd":                "libc-bin",
	"iscsistart":         "open-iscsi",
	"iscsiadm":           "open-iscsi",
	"dmsetup":            "dmsetup",
	"tgtd":               "tgt",
	"tgtadm":             "tgt",
	"iscsi-ls":           "libiscsi-bin",
	"iscsi-test-cu":      "libiscsi-bin",
	"iasl":               "acpica-tools",
	"tshark":             "tshark",
	"dhclient":           "isc-dhcp-client",
	"udhcpc":             "udhcpc",
	"curl":               "curl",
	"atftp":              "atftp",
	"tftp":               "tftp-hpa",
	"in.tftpd":           "tftpd-hpa",
	"kea-dhcp4":          "kea-dhcp4-server",
	"dhcpd":              "isc-dhcp-server",
	"perfdhcp":           "kea-admin",
}

// Files the lab uses from Debian packages, with the package that ships them.
const (
	// IPXEROMDir holds QEMU's NIC option ROMs (pxe-e1000.rom, efi-virtio.rom, …), all iPXE.
	IPXEROMDir = "/usr/lib/ipxe/qemu" // Debian package ipxe-qemu
	// IPXEDir holds iPXE images (ipxe.lkrn, undionly.kpxe, ipxe.efi, snponly.efi).
	IPXEDir = "/usr/lib/ipxe" // Debian package ipxe
	// OVMFCode is the UEFI firmware code image used for [UEFI] machines.
	OVMFCode = "/usr/share/OVMF/OVMF_CODE_4M.fd" // Debian package ovmf
	// OVMFVars is the template of the UEFI variable store; each machine gets a copy.
	OVMFVars = "/usr/share/OVMF/OVMF_VARS_4M.fd" // Debian package ovmf
	// BusyboxPath is the static busybox put into initramfs images.
	BusyboxPath = "/bin/busybox" // Debian package busybox-static
)

var filePackage = map[string]string{
	IPXEROMDir:  "ipxe-qemu",
	IPXEDir:     "ipxe",
	OVMFCode:    "ovmf",
	OVMFVars:    "ovmf",
	BusyboxPath: "busybox-static",
}

// PackageFor returns the Debian package that provides tool (a command name or
// one of the lab's file constants), or "" when the lab does not know it.
func PackageFor(tool string) string {
	if p, ok := debianPackage[tool]; ok {
		return p
	}
	return filePackage[tool]
}

// Require skips the test unless every tool is available. A tool is a command
// name looked up in $PATH (plus /usr/sbin and /sbin), or an absolute path that
// must exist. The skip message names the Debian package to install.
func Require(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if haveTool(tool) {
			continue
		}
		if p := PackageFor(tool); p != "" {
			t.Skipf("lab: %s not installed (Debian package %s)", tool, p)
		}
		t.Skipf("lab: %s not installed", tool)
	}
}

func haveTool(tool string) bool {
	if tool != "" && tool[0] == '/' {
		_, err := os.Stat(tool)
		return err == nil
	}
	_, err := lookTool(tool)
	return err == nil
}

// lookTool finds a command in $PATH or the sbin directories, which are not
// always in a test's $PATH.
func lookTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := dir + "/" + name
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", &exec.Error{Name: name, Err: exec.ErrNotFound}
}

// RequireRoot skips the test unless it runs as root (needed for network
// namespaces, bridges and tap devices).
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("lab: needs root (network namespaces, bridge, tap devices)")
	}
}
