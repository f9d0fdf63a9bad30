package rootpath

import "strings"

// MaxNameLen is the longest iSCSI name in bytes (RFC 7143 §4.2.7.1; EDK2's
// ISCSI_NAME_IFR_MAX_SIZE), counted after normalization.
const MaxNameLen = 223

// ValidateName checks an iSCSI name (initiator or target) against RFC 3720
// §3.2.6 / RFC 7143 §4.2.7 in strict mode; see [NormalizeName].
func ValidateName(name string) error {
	_, err := NormalizeName(name)
	return err
}

// NormalizeName validates an iSCSI name in strict mode and returns its
// normalized form, the one to compare byte-wise and to put on the wire.
//
// Strict mode is the ASCII subset of the RFC 3722 stringprep profile:
// A–Z fold to a–z, and after folding only a–z, 0–9, "-", "." and ":" may
// appear. Non-ASCII names are refused with [ErrUnsupported] because their
// normalization needs NFKC tables this package does not carry. The name
// must be at most [MaxNameLen] bytes and follow one of the three types:
//
//	iqn.YYYY-MM.reversed.domain[:unique]   month 01–12, non-empty labels
//	eui.<16 hex digits>                    EUI-64
//	naa.<16 or 32 hex digits>              RFC 3980
//
// Use a [Parser] with LenientNames for names that real targets accept but
// the RFC does not (for example "_").
func NormalizeName(name string) (string, error) { return Parser{}.NormalizeName(name) }

// NormalizeName is [NormalizeName] with p's leniency: with LenientNames,
// any printable ASCII character other than space is accepted and the name
// is returned unchanged (no case folding, since targets that need "_" tend
// to compare names byte-wise); the type prefix, the iqn date, the hex
// lengths and the 223-byte limit are still checked.
func (p Parser) NormalizeName(name string) (string, error) {
	n, err := p.normalizeName(name)
	if err != nil {
		return "", newErr(name, FieldName, name, err)
	}
	return n, nil
}

func (p Parser) normalizeName(name string) (string, error) {
	if name == "" {
		return "", reason(ErrEmpty, "an iSCSI name is required")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 0x80:
			return "", reason(ErrUnsupported, "non-ASCII byte at offset %d: names beyond ASCII need RFC 3722 stringprep (NFKC), which is not supported", i)
		case c <= ' ' || c == 0x7f:
			return "", reason(ErrSyntax, "control character or space %q at offset %d", c, i)
		case p.LenientNames:
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '.', c == ':':
		default:
			return "", reason(ErrSyntax, "character %q is prohibited by RFC 3722 (allowed: a-z 0-9 - . :)", c)
		}
	}
	n := name
	if !p.LenientNames {
		n = strings.ToLower(name)
	}
	if len(n) > MaxNameLen {
		return "", reason(ErrRange, "%d bytes, at most %d", len(n), MaxNameLen)
	}
	if len(n) < 4 {
		return "", reason(ErrSyntax, "must start with iqn., eui. or naa.")
	}
	typ, rest := strings.ToLower(n[:4]), n[4:]
	switch typ {
	case "iqn.":
		if err := checkIQN(rest); err != nil {
			return "", err
		}
	case "eui.":
		if len(rest) != 16 || !isHex(rest) {
			return "", reason(ErrSyntax, "eui. must be followed by exactly 16 hex digits (EUI-64), got %q", rest)
		}
	case "naa.":
		if (len(rest) != 16 && len(rest) != 32) || !isHex(rest) {
			return "", reason(ErrSyntax, "naa. must be followed by 16 or 32 hex digits, got %q", rest)
		}
	default:
		return "", reason(ErrSyntax, "must start with iqn., eui. or naa.")
	}
	return n, nil
}

// checkIQN checks "YYYY-MM.reversed.domain[:unique]".
func checkIQN(s string) error {
	if len(s) < 8 || !isDigits(s[:4]) || s[4] != '-' || !isDigits(s[5:7]) || s[7] != '.' {
		return reason(ErrSyntax, "iqn. must be followed by a date yyyy-mm and a dot")
	}
	if m := (s[5]-'0')*10 + (s[6] - '0'); m < 1 || m > 12 {
		return reason(ErrRange, "month %s in the iqn. date is not 01–12", s[5:7])
	}
	domain, unique, hasUnique := strings.Cut(s[8:], ":")
	for label := range strings.SplitSeq(domain, ".") {
		if label == "" {
			return reason(ErrSyntax, "empty label in the reversed domain name %q", domain)
		}
	}
	if hasUnique && unique == "" {
		return reason(ErrSyntax, "nothing after ':' (drop the ':' or name the unit)")
	}
	return nil
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if _, ok := hexDigit(s[i]); !ok {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
