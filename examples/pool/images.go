package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/netbootkit/netboot/internal/sanfleet"
	"github.com/netbootkit/netboot/ipxescript"
)

// maxImageFile bounds an image description file.
const maxImageFile = 64 << 10

// Image is one bootable image of the images directory, described by the file
// NAME.json: a Linux kernel with initrds and a command line, a SAN root path,
// or a disk image the pool serves itself over iSCSI, one copy-on-write overlay
// per machine.
//
//	{"description": "Debian 13 live", "kernel": "vmlinuz", "initrds": ["initrd.gz"],
//	 "cmdline": "console=ttyS0 boot=live"}
//	{"description": "Windows on iSCSI", "san": "iscsi:192.0.2.10::::iqn.2026-01.lab:win"}
//	{"description": "Debian on its own disk", "base": "disk.img"}
//
// kernel and initrds are either plain file names inside the directory NAME/ next
// to the description (served by the pool at /files/NAME/FILE) or absolute
// http(s) URLs.
type Image struct {
	Name        string   `json:"-"`
	Description string   `json:"description,omitempty"`
	Kernel      string   `json:"kernel,omitempty"`
	Initrds     []string `json:"initrds,omitempty"`
	Cmdline     string   `json:"cmdline,omitempty"`
	SAN         string   `json:"san,omitempty"`
	// Base is a disk image file in NAME/ that the pool serves over its own
	// iSCSI target: every machine boots its own persistent overlay of it.
	Base string `json:"base,omitempty"`
	// EFIFilename is the EFI loader a UEFI machine starts from a "san" or
	// "base" disk (sanboot --filename), e.g. \EFI\BOOT\BOOTX64.EFI: without
	// it some UEFI firmware picks the wrong loader or hangs (ipxe#996,
	// ipxe#1430). BIOS machines ignore it.
	EFIFilename string `json:"efi_filename,omitempty"`
}

// Kind is "Linux", "SAN" (an external root path) or "Base" (a disk the pool
// serves).
func (img *Image) Kind() string {
	switch {
	case img.SAN != "":
		return "SAN"
	case img.Base != "":
		return "Base"
	}
	return "Linux"
}

// ParseImage reads and validates an image description. name is the file's base
// name without ".json".
func ParseImage(name string, r io.Reader) (*Image, error) {
	if err := ValidImageName(name); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(r, maxImageFile+1))
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", name, err)
	}
	if len(data) > maxImageFile {
		return nil, fmt.Errorf("%w: image %s: description larger than %d bytes", ErrInvalid, name, maxImageFile)
	}
	img := &Image{}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(img); err != nil {
		return nil, fmt.Errorf("%w: image %s: %w", ErrInvalid, name, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: image %s: trailing data after the JSON object", ErrInvalid, name)
	}
	img.Name = name
	if err := img.validate(); err != nil {
		return nil, fmt.Errorf("%w: image %s: %w", ErrInvalid, name, err)
	}
	return img, nil
}

func (img *Image) validate() error {
	if len(img.Description) > 200 || ipxescript.Sanitize(img.Description, 200) != img.Description {
		return errors.New("description: at most 200 printable characters")
	}
	kinds := 0
	for _, f := range []string{img.Kernel, img.SAN, img.Base} {
		if f != "" {
			kinds++
		}
	}
	switch {
	case kinds == 0:
		return errors.New(`want "kernel" (Linux boot), "san" (SAN boot) or "base" (a disk served by the pool)`)
	case kinds > 1:
		return errors.New(`"kernel", "san" and "base" are exclusive`)
	case img.Kernel == "" && (len(img.Initrds) > 0 || img.Cmdline != ""):
		return errors.New(`"initrds" and "cmdline" need "kernel"`)
	}
	if img.EFIFilename != "" {
		if img.SAN == "" && img.Base == "" {
			return errors.New(`"efi_filename" needs "san" or "base"`)
		}
		f := img.EFIFilename
		if len(f) > 255 || !strings.HasPrefix(f, `\`) || strings.ContainsAny(f, " \t/") || ipxescript.CheckLiteral(f) != nil {
			return fmt.Errorf("efi_filename %q: want a path on the disk such as \\EFI\\BOOT\\BOOTX64.EFI", clip(f))
		}
	}
	if img.Base != "" {
		if err := validFileName(img.Base); err != nil {
			return fmt.Errorf("base: %w", err)
		}
		if err := sanfleet.ValidImage(img.Name); err != nil {
			return fmt.Errorf("a base image's name is part of iSCSI names: want a-z 0-9 . - only (no _)")
		}
	}
	if len(img.Initrds) > 16 {
		return errors.New("at most 16 initrds")
	}
	if len(img.Cmdline) > 2048 {
		return errors.New("cmdline: at most 2048 bytes")
	}
	for _, f := range append([]string{img.Kernel}, img.Initrds...) {
		if f == "" && img.Kernel == "" {
			continue
		}
		if err := checkSource(f); err != nil {
			return err
		}
	}
	if img.SAN != "" {
		if err := ipxescript.CheckLiteral(img.SAN); err != nil || strings.ContainsAny(img.SAN, " \t") {
			return fmt.Errorf("san %q: not a single safe iPXE token", clip(img.SAN))
		}
		if !strings.Contains(img.SAN, ":") {
			return fmt.Errorf("san %q: want a root path such as iscsi:… or http://…", clip(img.SAN))
		}
	}
	// The final word: the builder must accept the whole script.
	s, err := img.script("http://pool.invalid", "", "", nil, true)
	if err != nil {
		return err
	}
	if _, err := ipxescript.ParseString(s.String()); err != nil {
		return fmt.Errorf("generated script does not parse: %w", err)
	}
	return nil
}

// checkSource accepts a local file name or an absolute http(s) URL.
func checkSource(s string) error {
	if !strings.Contains(s, "://") {
		return validFileName(s)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return fmt.Errorf("%q: want a file name or an http(s) URL without credentials", clip(s))
	}
	if err := ipxescript.CheckLiteral(s); err != nil || strings.ContainsAny(s, " \t") {
		return fmt.Errorf("%q: not a single safe iPXE token", clip(s))
	}
	return nil
}

// Local reports the local file names the image uses (its kernel and initrds that
// are not URLs, its base).
func (img *Image) Local() []string {
	var out []string
	for _, f := range append([]string{img.Kernel, img.Base}, img.Initrds...) {
		if f != "" && !strings.Contains(f, "://") {
			out = append(out, f)
		}
	}
	return out
}

// Script builds the iPXE script that boots img. base is the pool's external
// URL ("http://192.0.2.1:8080"); mac, when set, is added to local file URLs so
// the pool can record which machine reached its kernel and initrd. A base
// image's script needs the machine's target (the pool's own iSCSI side) and
// is refused here.
func (img *Image) Script(base, mac string) (*ipxescript.Script, error) {
	if img.Base != "" {
		return nil, fmt.Errorf("image %s: %w", img.Name, ErrNoSAN)
	}
	return img.script(base, mac, "", nil, false)
}

// script is Script with, when again is set, the boot wrapped in a retry loop:
// a failed download (or a boot that returns) is tried again with back-off, and
// after the last attempt the machine goes back to the pool through again (the
// identity URL of /boot.ipxe), so it follows any change of assignment.
// A base image boots san, the machine's own disk (a stand-in for validation
// when nil). efi says the machine is a UEFI one (it gets EFIFilename).
func (img *Image) script(base, mac string, again ipxescript.Expr, san *sanTarget, efi bool) (*ipxescript.Script, error) {
	if img.Base != "" && san == nil {
		san = &sanTarget{
			Initiator: initiatorPrefix + "00-00-00-00-00-00",
			RootPath:  "iscsi:pool.invalid::::" + targetPrefix + img.Name + ":00-00-00-00-00-00",
		}
	}
	src := func(f string) string {
		if strings.Contains(f, "://") {
			return f
		}
		u := base + "/files/" + img.Name + "/" + f
		if mac != "" {
			u += "?mac=" + mac
		}
		return u
	}
	title := "pool: booting image " + img.Name
	if mac != "" {
		title += " on " + mac
	}
	boot := func(s *ipxescript.Script) {
		sb := ipxescript.SAN{}
		if efi {
			sb.Filename = img.EFIFilename
		}
		if img.SAN != "" {
			sb.URIs = []string{img.SAN}
			s.Sanboot(sb)
			return
		}
		if san != nil {
			sb.URIs = []string{san.RootPath}
			s.Sanboot(sb)
			return
		}
		l := ipxescript.Linux{Kernel: src(img.Kernel), Args: strings.Fields(img.Cmdline)}
		for _, f := range img.Initrds {
			l.Initrds = append(l.Initrds, src(f))
		}
		s.LinuxBoot(l)
	}
	s := ipxescript.New().Echo(title)
	if san != nil {
		// iPXE logs in with this name and writes it, with the credentials,
		// to the iBFT, so the booted system logs back in the same way.
		s.Set("initiator-iqn", san.Initiator)
		if san.CHAP != nil {
			s.Set("username", san.CHAP.User).Set("password", san.CHAP.Secret)
		}
	}
	if again == "" {
		boot(s)
	} else {
		s.Retry(ipxescript.Retry{Label: "pool", Attempts: 4, Delay: 2 * time.Second, MaxDelay: 30 * time.Second, OnFail: "pool_back"}, boot).
			Label("pool_back").
			Echo("pool: image "+img.Name+" failed to boot; asking the pool again in "+waitDelay.String()+".").
			Sleep(waitDelay).
			Cmd("chain", "--replace", "--autofree", again)
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	return s, nil
}

// Catalog is the images directory: NAME.json descriptions and NAME/ file
// directories. It is read again on every use, so adding or editing an image
// takes effect without a restart.
type Catalog struct {
	Root *os.Root
}

// LoadResult is one reading of the images directory.
type LoadResult struct {
	Images []*Image          // valid images, sorted by name
	Errors map[string]string // file name → why it was refused
}

// Get returns the image called name, or an error if it is missing or invalid.
func (c *Catalog) Get(name string) (*Image, error) {
	if err := ValidImageName(name); err != nil {
		return nil, err
	}
	f, err := c.Root.Open(name + ".json")
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", name, err)
	}
	defer f.Close()
	img, err := ParseImage(name, f)
	if err != nil {
		return nil, err
	}
	for _, l := range img.Local() {
		if st, err := c.Root.Stat(name + "/" + l); err != nil || !st.Mode().IsRegular() {
			return nil, fmt.Errorf("image %s: file %s missing from %s/", name, l, name)
		}
	}
	return img, nil
}

// Load reads every NAME.json of the directory.
func (c *Catalog) Load() (LoadResult, error) {
	res := LoadResult{Errors: map[string]string{}}
	ents, err := fs.ReadDir(c.Root.FS(), ".")
	if err != nil {
		return res, fmt.Errorf("images directory: %w", err)
	}
	for _, e := range ents {
		n, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || e.IsDir() {
			continue
		}
		img, err := c.Get(n)
		if err != nil {
			res.Errors[e.Name()] = err.Error()
			continue
		}
		res.Images = append(res.Images, img)
	}
	slices.SortFunc(res.Images, func(a, b *Image) int { return strings.Compare(a.Name, b.Name) })
	return res, nil
}
