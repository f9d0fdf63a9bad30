package ipxescript

// argKind is how an option value or positional argument is parsed by iPXE.
type argKind uint8

const (
	argFlag    argKind = iota // option without a value
	argString                 // any text
	argInt                    // strtoul(…, 0)
	argTimeout                // integer milliseconds
	argKey                    // one character or an integer key code
)

type optSpec struct {
	long  string
	short byte
	kind  argKind
	since string // non-empty: only in newer iPXE builds (warning)
}

// cmdSpec describes a command's synopsis (iPXE COMMAND_DESC).
type cmdSpec struct {
	opts     []optSpec
	min, max int    // positional argument count; max < 0 = unlimited
	ints     []int  // indexes of positional arguments parsed as integers
	label    bool   // first positional is a script label (goto)
	warn     string // availability warning
}

var (
	imgOpts = []optSpec{
		{"name", 'n', argString, ""}, {"timeout", 't', argTimeout, ""},
		{"quiet", 'q', argFlag, ""}, {"autofree", 'a', argFlag, ""},
	}
	imgExecOpts = append(append([]optSpec(nil), imgOpts...), optSpec{"replace", 'r', argFlag, ""})
	ifOpts      = []optSpec{{"configurator", 'c', argString, ""}, {"timeout", 't', argTimeout, ""}}
)

// commands maps every command of current iPXE (iPXE:src/hci/commands,
// master 2026-08) to its synopsis. Commands with a nil spec are known but
// their arguments are not checked.
var commands = map[string]*cmdSpec{
	"dhcp":      {opts: ifOpts, max: -1},
	"ifconf":    {opts: ifOpts, max: -1},
	"ifopen":    {max: -1},
	"ifclose":   {max: -1},
	"ifstat":    {max: -1},
	"set":       {min: 1, max: -1},
	"clear":     {min: 1, max: 1},
	"read":      {opts: []optSpec{{"timeout", 't', argTimeout, ""}}, min: 1, max: 1},
	"show":      {opts: []optSpec{{"quiet", 'q', argFlag, "2025"}}, min: 1, max: 1},
	"inc":       {min: 1, max: 2, ints: []int{1}},
	"isset":     {min: 1, max: 1},
	"iseq":      {min: 2, max: 2},
	"echo":      {opts: []optSpec{{"n", 'n', argFlag, ""}}, max: -1},
	"prompt":    {opts: []optSpec{{"key", 'k', argKey, ""}, {"timeout", 't', argTimeout, ""}}, max: -1},
	"sleep":     {min: 1, max: 1, ints: []int{0}},
	"goto":      {min: 1, max: 1, label: true},
	"exit":      {max: 1, ints: []int{0}},
	"imgfetch":  {opts: imgOpts, min: 1, max: -1},
	"module":    {opts: imgOpts, min: 1, max: -1},
	"initrd":    {opts: imgOpts, min: 1, max: -1},
	"kernel":    {opts: imgOpts, min: 1, max: -1},
	"imgselect": {opts: imgOpts, min: 1, max: -1},
	"imgload":   {opts: imgOpts, min: 1, max: -1},
	"chain":     {opts: imgExecOpts, max: -1},
	"boot":      {opts: imgExecOpts, max: -1},
	"imgexec":   {opts: imgExecOpts, max: -1},
	"imgargs":   {opts: imgOpts, min: 1, max: -1},
	"imgstat":   {max: -1},
	"imgfree":   {max: -1},
	"sanboot": {opts: []optSpec{
		{"drive", 'd', argInt, ""}, {"no-describe", 'n', argFlag, ""}, {"keep", 'k', argFlag, ""},
		{"filename", 'f', argString, ""}, {"extra", 'e', argString, "2024"},
		{"label", 'l', argString, "2024"}, {"uuid", 'u', argString, "2024"},
	}, max: -1},
	"sanhook":   {opts: []optSpec{{"drive", 'd', argInt, ""}, {"no-describe", 'n', argFlag, ""}}, min: 1, max: -1},
	"sanunhook": {opts: []optSpec{{"drive", 'd', argInt, ""}}},
	"menu":      {opts: []optSpec{{"name", 'n', argString, ""}, {"delete", 'd', argFlag, ""}}, max: -1},
	"item": {opts: []optSpec{
		{"menu", 'm', argString, ""}, {"key", 'k', argKey, ""}, {"default", 'd', argFlag, ""},
		{"gap", 'g', argFlag, ""}, {"secret", 's', argFlag, "2024"}, {"form", 'f', argString, "2024"},
	}, max: -1},
	"choose": {opts: []optSpec{
		{"menu", 'm', argString, ""}, {"default", 'd', argString, ""}, {"timeout", 't', argTimeout, ""},
		{"retimeout", 'r', argTimeout, "2025"}, {"keep", 'k', argFlag, ""},
	}, min: 1, max: 1},
	"params": {opts: []optSpec{{"name", 'n', argString, ""}, {"delete", 'd', argFlag, ""}, {"method", 'm', argString, "2026"}},
		warn: `"params" is missing from BIOS builds, Debian's iPXE and many vendor builds; pass values in the URL query instead`},
	"param": {opts: []optSpec{{"params", 'p', argString, ""}, {"header", 'H', argFlag, "2023"}}, min: 1, max: -1,
		warn: `"param" is missing from BIOS builds, Debian's iPXE and many vendor builds; pass values in the URL query instead`},
	"imgtrust": {opts: []optSpec{{"allow", 'a', argFlag, ""}, {"permanent", 'p', argFlag, ""}},
		warn: `"imgtrust" is not in default iPXE builds (Debian's lacks it)`},
	"imgverify": {opts: []optSpec{{"signer", 's', argString, ""}, {"keep", 'k', argFlag, ""},
		{"timeout", 't', argTimeout, ""}, {"quiet", 'q', argFlag, ""}}, min: 2, max: 2,
		warn: `"imgverify" is not in default iPXE builds (Debian's lacks it)`},
	"cpuid":    {opts: []optSpec{{"ext", 'e', argFlag, ""}, {"ecx", 'c', argFlag, ""}}, min: 1, max: 1, ints: []int{0}},
	"reboot":   {opts: []optSpec{{"warm", 'w', argFlag, ""}, {"setup", 's', argFlag, "2024"}}},
	"poweroff": {},
	"shell":    {},
	"login":    {},
	"autoboot": {max: -1},
	"ntp":      {min: 1, max: 1},
	"nslookup": {min: 2, max: 2},
	"config":   {max: 1},
	"ping": {opts: []optSpec{{"size", 's', argInt, ""}, {"timeout", 't', argTimeout, ""},
		{"count", 'c', argInt, ""}, {"quiet", 'q', argFlag, ""}}, min: 1, max: 1},

	// Known commands whose arguments are not checked.
	"certfree": nil, "certstat": nil, "certstore": nil, "colour": nil, "console": nil,
	"cpair": nil, "fcels": nil, "fcstat": nil, "fdt": nil, "form": nil, "gdbstub": nil,
	"help": nil, "ibstat": nil, "iflinkwait": nil, "imgdecrypt": nil, "imgextract": nil,
	"imgmem": nil, "imgset": nil, "ipstat": nil, "iwlist": nil, "iwstat": nil, "lotest": nil,
	"md5sum": nil, "nstat": nil, "pciscan": nil, "present": nil, "profstat": nil, "pxebs": nil,
	"route": nil, "sha1sum": nil, "shim": nil, "startpxe": nil, "stoppxe": nil, "sync": nil,
	"time": nil, "usbscan": nil, "vcreate": nil, "vdestroy": nil,
}

// KnownCommand reports whether name is a command of current upstream iPXE
// (some exist only in builds that enable them).
func KnownCommand(name string) bool {
	_, ok := commands[name]
	return ok
}
