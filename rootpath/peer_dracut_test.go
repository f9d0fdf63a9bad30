package rootpath

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests run dracut's own shell parsers (parse_iscsi_root from
// 99base/dracut-lib.sh, nfsroot_to_var and friends from 95nfs/nfs-lib.sh)
// on the same texts as ParseDracut and compare the fields. They need the
// Debian packages dracut-core and dracut-network; NETBOOT_DRACUT_MODULES
// may point at a modules.d directory elsewhere (e.g. unpacked with
// dpkg-deb -x).

func dracutModulesDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("NETBOOT_DRACUT_MODULES")
	if dir == "" {
		dir = "/usr/lib/dracut/modules.d"
	}
	for _, f := range []string{"99base/dracut-lib.sh", "40network/net-lib.sh", "95nfs/nfs-lib.sh", "95nbd/nbdroot.sh"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Skipf("dracut shell libraries not installed (Debian packages dracut-core, dracut-network): %v", err)
		}
	}
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	return dir
}

// shellFunc copies one top-level function definition out of the first
// dracut library that has it: from the line "name() {" (or "name()" then
// "{") to the first line that is exactly "}". (parse_iscsi_root moved from
// 99base/dracut-lib.sh to 40network/net-lib.sh over dracut's history.)
func shellFunc(t *testing.T, files []string, name string) string {
	t.Helper()
	for _, f := range files {
		if def, ok := shellFuncIn(t, f, name); ok {
			return def
		}
	}
	t.Fatalf("function %s not found in %v", name, files)
	return ""
}

// shellBlock copies the lines of a dracut script from the line equal to
// first up to (not including) the line that starts with end.
func shellBlock(t *testing.T, file, first, end string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	var out []string
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		if line == first {
			in = true
		}
		if in && strings.HasPrefix(line, end) {
			return strings.Join(out, "\n")
		}
		if in {
			out = append(out, line)
		}
	}
	t.Fatalf("block %q…%q not found in %s", first, end, file)
	return ""
}

func shellFuncIn(t *testing.T, file, name string) (string, bool) {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	var out []string
	in := false
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		line := sc.Text()
		if !in && strings.HasPrefix(line, name+"()") {
			in = true
		}
		if in {
			out = append(out, line)
			if line == "}" {
				return strings.Join(out, "\n"), true
			}
		}
	}
	return "", false
}

const dracutHarness = `
warn() { :; }
mode=$1; shift
for v in "$@"; do
	case $mode in
	iscsi)
		unset iscsi_username iscsi_password iscsi_in_username iscsi_in_password iscsi_target_ip \
			iscsi_protocol iscsi_target_port iscsi_iface_name iscsi_netdev_name iscsi_lun iscsi_target_name
		parse_iscsi_root "$v"; rc=$?
		printf '%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s\n' "$rc" "$iscsi_username" "$iscsi_password" \
			"$iscsi_in_username" "$iscsi_in_password" "$iscsi_target_ip" "$iscsi_protocol" \
			"$iscsi_target_port" "$iscsi_iface_name" "$iscsi_netdev_name" "$iscsi_lun" "$iscsi_target_name"
		;;
	nfs)
		unset nfs server path options
		# parse-nfsroot.sh: legacy bare forms become nfs:<value>
		case "$v" in
		[0-9]*:/* | [0-9]*\.[0-9]*\.[0-9]*[!:] | /*) v=nfs:$v ;;
		esac
		# nfs-lib.sh nfs_to_var without the DHCP fallback
		case "$v" in
		nfs://*) rfc2224_nfs_to_var "$v" ;;
		nfs:*[*) anaconda_nfsv6_to_var "$v" ;;
		nfs:*:*:/*) anaconda_nfs_to_var "$v" ;;
		*) nfsroot_to_var "$v" ;;
		esac
		printf '%s|%s|%s|%s\n' "$nfs" "$server" "$path" "$options"
		;;
	nbd)
		unset nbdserver nbdport nbdfstype nbdflags nbdopts
		nroot=$v
		nbd_parse
		printf '%s|%s|%s|%s|%s\n' "$nbdserver" "$nbdport" "$nbdfstype" "$nbdflags" "$nbdopts"
		;;
	esac
done
`

// runDracut runs dracut's parser for mode ("iscsi" or "nfs") on inputs and
// returns one "|"-separated record per input.
func runDracut(t *testing.T, mode string, inputs []string) [][]string {
	t.Helper()
	dir := dracutModulesDir(t)
	var libs []string
	for _, f := range []string{"99base/dracut-lib.sh", "40network/net-lib.sh", "95nfs/nfs-lib.sh"} {
		libs = append(libs, filepath.Join(dir, f))
	}
	script := strings.Join([]string{
		shellFunc(t, libs, "strstr"),
		shellFunc(t, libs, "str_starts"),
		shellFunc(t, libs, "parse_iscsi_root"),
		shellFunc(t, libs, "nfsroot_to_var"),
		shellFunc(t, libs, "anaconda_nfsv6_to_var"),
		shellFunc(t, libs, "anaconda_nfs_to_var"),
		shellFunc(t, libs, "rfc2224_nfs_to_var"),
		"nbd_parse() {\n" + shellBlock(t, filepath.Join(dir, "95nbd/nbdroot.sh"), "nroot=${nroot#nbd:}", "# look through the NBD options") + "\n}",
		dracutHarness,
	}, "\n")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", append([]string{"-c", script, "harness", mode}, inputs...)...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	require.Len(t, lines, len(inputs), "%s", out)
	recs := make([][]string, len(lines))
	for i, l := range lines {
		recs[i] = strings.Split(l, "|")
	}
	return recs
}

func TestPeerDracutISCSI(t *testing.T) {
	inputs := []string{
		"iscsi:192.168.50.1::::iqn.2009-06.dracut:target0",
		"iscsi:user:secret@10.0.0.1::::iqn.2009-06.dracut:target0",
		"iscsi:u:p:ru:rp@10.0.0.1:6:3261::5:iqn.2009-06.dracut:target0",
		"iscsi:192.168.50.1::3260:iface0:eth0:1:iqn.2009-06.dracut:target0",
		"iscsi:192.168.50.1:::eth0:2:iqn.2009-06.dracut:target0",
		"iscsi:[2001:db8::1]::3260::300:iqn.2009-06.dracut:target0",
		"iscsi:@192.168.1.100::3260::iqn.2009-01.com.example:testdisk",
		"iscsi:::::iqn.2009-06.dracut:target0",
		"iscsi:san.example.com::::iqn.2001-04.com.example:storage:disk1",
		"iscsi:10.0.0.1::::eui.02004567a425678d",
		"iscsi:10.0.0.1:::7:naa.52004567ba64678d",
	}
	recs := runDracut(t, "iscsi", inputs)
	for i, in := range inputs {
		t.Run(in, func(t *testing.T) {
			rp, err := ParseDracut(in)
			require.NoError(t, err)
			v := rp.(*DracutISCSI)
			r := recs[i]
			require.Len(t, r, 12)
			assert.Equal(t, "0", r[0], "dracut's return code")
			assert.Equal(t, []string{v.Username, v.Password, v.InUsername, v.InPassword}, r[1:5], "credentials")
			assert.Equal(t, v.Server, r[5], "server")
			assert.Contains(t, []string{"", "6"}, r[6], "protocol")
			port := uint16(DefaultPort)
			if r[7] != "" {
				n, err := strconv.ParseUint(r[7], 10, 16)
				require.NoError(t, err)
				port = uint16(n)
			}
			assert.Equal(t, v.Port, port, "port")
			assert.Equal(t, v.Iface, r[8], "iface")
			assert.Equal(t, v.Netdev, r[9], "netdev")
			lun := uint64(0)
			if r[10] != "" {
				lun, err = strconv.ParseUint(r[10], 10, 64)
				require.NoError(t, err)
			}
			assert.Equal(t, v.LUN.Linux(), lun, "LUN")
			assert.Equal(t, v.Target, r[11], "target")
		})
	}
}

func TestPeerDracutNFS(t *testing.T) {
	inputs := []string{
		"nfs:10.0.0.1:/srv/root",
		"nfs:10.0.0.1:/srv/root:vers=3,tcp",
		"nfs:10.0.0.1:/srv/root,vers=3",
		"nfs4:nfs.example.com:/exports/root:sec=krb5",
		"nfs:/srv/root",
		"nfs:/srv/root,vers=3",
		"nfs:[2001:db8::1]:/srv/root:vers=4.2",
		"nfs4:[2001:db8::1]:/srv/root",
		"10.0.0.1:/srv/root",
		"10.0.0.1:/srv/root:vers=3",
		"/srv/root",
		"/srv/%s,nolock",
	}
	recs := runDracut(t, "nfs", inputs)
	for i, in := range inputs {
		t.Run(in, func(t *testing.T) {
			rp, err := ParseDracut(in)
			require.NoError(t, err)
			v := rp.(*NFS)
			r := recs[i]
			require.Len(t, r, 4)
			scheme := v.Scheme
			if scheme == "" {
				scheme = "nfs"
			}
			assert.Equal(t, scheme, r[0], "nfs type")
			assert.Equal(t, v.Server, strings.Trim(r[1], "[]"), "server")
			assert.Equal(t, v.Path, r[2], "path")
			assert.Equal(t, strings.Join(v.Options, ","), r[3], "options")
		})
	}
}

// Texts ParseDracut refuses because dracut reads them differently from
// what they seem to say. The test pins dracut's reading, so the refusal
// stays justified.
func TestPeerDracutRefusals(t *testing.T) {
	cases := []struct {
		in          string
		dracutField int // index in the nfs record: 1 server, 2 path, 3 options
		dracutValue string
	}{
		{"nfs:10.0.0.1:/srv,vers=3:tcp", 3, "vers=3"}, // "tcp" is lost
		{"nfs:10.0.0.1:/a:/b", 2, "/b"},               // path from the last ":/"
		{"nfs:vers=3:10.0.0.1:/srv", 3, "vers=3"},     // anaconda's options-first form
	}
	var inputs []string
	for _, c := range cases {
		inputs = append(inputs, c.in)
	}
	recs := runDracut(t, "nfs", inputs)
	for i, c := range cases {
		assert.Equal(t, c.dracutValue, recs[i][c.dracutField], "dracut's reading of %q", c.in)
		_, err := ParseDracut(c.in)
		assert.Error(t, err, c.in)
	}

	// dracut's anaconda_nfsv6_to_var takes the path as options when an
	// IPv6 server comes without options; we keep the path as the path.
	recs = runDracut(t, "nfs", []string{"nfs:[2001:db8::1]:/srv/root"})
	assert.Equal(t, "srv/root", recs[0][3], "dracut quirk changed: revisit the doc of ParseDracut")
}

func TestPeerDracutNBD(t *testing.T) {
	inputs := []string{
		"nbd:10.0.0.1:10809",
		"nbd:10.0.0.1:rootfs",
		"nbd:nbd.example.com:2000:ext4",
		"nbd:[2001:db8::1]:10809:ext4:ro,noatime:timeout=30,bs=4096",
		"nbd:10.0.0.1:10809::ro",
		"nbd:10.0.0.1:10809:::persist",
		"nbd:10.0.0.1:rootfs:xfs:rw",
	}
	recs := runDracut(t, "nbd", inputs)
	for i, in := range inputs {
		t.Run(in, func(t *testing.T) {
			rp, err := ParseDracut(in)
			require.NoError(t, err)
			v := rp.(*NBD)
			r := recs[i]
			require.Len(t, r, 5)
			assert.Equal(t, v.Server, r[0], "server")
			if v.Export != "" {
				assert.Equal(t, v.Export, r[1], "export (dracut: -name)")
			} else {
				assert.Equal(t, strconv.Itoa(int(v.Port)), r[1], "port")
			}
			fstype := v.FSType
			if fstype == "" {
				fstype = "auto"
			}
			assert.Equal(t, fstype, r[2], "fstype")
			assert.Equal(t, strings.Join(v.RootFlags, ","), r[3], "rootflags")
			assert.Equal(t, strings.Join(v.Options, ","), r[4], "nbd-client options")
		})
	}

	// The field-equality quirk that NBD parsing refuses.
	recs = runDracut(t, "nbd", []string{"nbd:10.0.0.1:10809:ro:ro"})
	assert.Equal(t, "", recs[0][3], "dracut drops rootflags equal to the fstype")
}
