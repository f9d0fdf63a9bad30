package rootpath

import (
	"strconv"
	"strings"
)

// NBD is dracut's network block device root (modules.d/95nbd), read from
// root=, netroot= or a DHCP root path:
//
//	nbd:<server>:<port|exportname>[:<fstype>[:<rootflags>[:<nbdopts>]]]
//
// The second field is a port when it is a decimal number and an export
// name otherwise (dracut then runs nbd-client -name <export> on the
// default port 10809). rootflags are mount options ("ro"/"rw" among them),
// nbdopts are nbd-client options; both are ","-separated lists. iPXE does
// not boot from NBD.
type NBD struct {
	Server    string   // IPv4, IPv6 (printed in brackets) or host name; required
	Port      uint16   // TCP port, or 0 when Export names the export
	Export    string   // export name, when the field is not a number
	FSType    string   // file system type; empty = auto
	RootFlags []string // mount options, nil when none
	Options   []string // nbd-client options, nil when none
}

func parseNBD(input, rest string) (*NBD, error) {
	server, rest, err := cutServer(input, rest)
	if err != nil {
		return nil, err
	}
	v := &NBD{}
	if server == "" {
		return nil, newErr(input, FieldServer, "", reason(ErrEmpty, "dracut requires the NBD server"))
	}
	if v.Server, err = parseServer(server); err != nil {
		return nil, newErr(input, FieldServer, server, err)
	}
	f := strings.SplitN(rest, ":", 4)
	switch {
	case f[0] == "":
		return nil, newErr(input, FieldPort, "", reason(ErrEmpty, "dracut requires a port or an export name"))
	case isDigits(f[0]):
		if v.Port, err = parsePort(f[0]); err != nil {
			return nil, newErr(input, FieldPort, f[0], err)
		}
	default:
		v.Export = f[0]
	}
	// nbdroot.sh detects absent fields by comparing each with the one
	// before, so a field equal to its predecessor is silently dropped.
	for i := 1; i < len(f); i++ {
		if f[i] != "" && f[i] == f[i-1] {
			return nil, newErr(input, FieldOptions, f[i], reason(ErrSyntax, "dracut drops a field equal to the one before it"))
		}
	}
	if len(f) > 1 {
		if strings.Contains(f[1], ",") {
			return nil, newErr(input, FieldOptions, f[1], reason(ErrSyntax, "a file system type has no ','"))
		}
		v.FSType = f[1]
	}
	if len(f) > 2 {
		if v.RootFlags, err = parseList(input, f[2]); err != nil {
			return nil, err
		}
	}
	if len(f) > 3 {
		if v.Options, err = parseList(input, f[3]); err != nil {
			return nil, err
		}
	}
	if len(f) > 1 && f[len(f)-1] == "" {
		return nil, newErr(input, FieldOptions, rest, reason(ErrEmpty, "trailing ':' without a value"))
	}
	return v, nil
}

// parseList reads a ","-separated list with no empty or ':'-holding
// element; an empty text is nil.
func parseList(input, s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	l := strings.Split(s, ",")
	for _, e := range l {
		if e == "" || strings.Contains(e, ":") {
			return nil, newErr(input, FieldOptions, s, reason(ErrSyntax, "empty option or ':' inside an option list"))
		}
	}
	return l, nil
}

// String writes the dracut form, dropping empty trailing fields.
func (v *NBD) String() string {
	fields := []string{bracketHost(v.Server), v.Export}
	if v.Export == "" {
		fields[1] = strconv.Itoa(int(v.Port))
	}
	tail := []string{v.FSType, strings.Join(v.RootFlags, ","), strings.Join(v.Options, ",")}
	n := len(tail)
	for n > 0 && tail[n-1] == "" {
		n--
	}
	fields = append(fields, tail[:n]...)
	return "nbd:" + strings.Join(fields, ":")
}
