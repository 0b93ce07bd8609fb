package main

// The direct build: for one `main` package that imports only the standard library (no cgo, no assembly, no
// //go:embed, no //go:debug, no test files, a go.mod of a module line and a go line only), the compiler and the
// linker are run as the go command runs them (`go build -trimpath -ldflags="-s -w"`, see its -x), against the
// standard library pre-built in the image (`stdlib`): the same flags, the same -lang from go.mod's go line, the
// same build information and default GODEBUG in the binary, and the same output (the go command's "# <import
// path>" header over the compiler's lines). Any other package is refused, and the go command builds it.

import (
	"bufio"
	"fmt"
	"go/build"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// stdlibDir is where the image keeps the standard library's archives for the direct build.
const stdlibDir = "/usr/local/lib/gosandbox-std"

// The go command's markers around the build information in a binary (cmd/go/internal/modload/build.go).
const (
	infoStart = "0w\xaf\f\x92t\b\x02A\xe1\xc1\a\xe6\xd6\x18\xe6"
	infoEnd   = "\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2"
)

type directPlan struct {
	module  string   // the import path of the package: its module's path
	lang    string   // go1.N
	godebug string   // the default GODEBUG of that language version
	files   []string // ./name.go, as the go command names them
	goroot  string
	version string // the toolchain's, e.g. go1.27.3
}

// planDirect says how to build dir directly, or why it cannot be.
func planDirect(dir string, flags buildFlags) (*directPlan, string) {
	if flags.Race {
		return nil, "race"
	}
	std, err := readImportcfg(filepath.Join(stdlibDir, "importcfg"))
	if err != nil {
		return nil, "no pre-built standard library"
	}
	goroot := os.Getenv("GOROOT")
	version, err := toolchainVersion(goroot)
	if err != nil {
		return nil, "toolchain version"
	}
	module, goLine, ok := simpleGoMod(filepath.Join(dir, "go.mod"))
	if !ok {
		return nil, "go.mod"
	}
	lang, ok := languageVersion(goLine, version)
	if !ok {
		return nil, "go line"
	}
	godebug, ok := defaultGodebug(lang)
	if !ok {
		return nil, "godebug"
	}
	ctxt := build.Default
	ctxt.CgoEnabled = false
	pkg, err := ctxt.ImportDir(dir, 0)
	if err != nil {
		return nil, "package"
	}
	if reason := notDirect(pkg, std); reason != "" {
		return nil, reason
	}
	files := make([]string, len(pkg.GoFiles))
	for i, name := range pkg.GoFiles {
		files[i] = "./" + name
	}
	return &directPlan{module, lang, godebug, files, goroot, version}, ""
}

// notDirect names what keeps pkg from the direct build; "" if nothing does.
func notDirect(pkg *build.Package, std map[string]string) string {
	switch {
	case pkg.Name != "main":
		return "not package main"
	case len(pkg.CgoFiles)+len(pkg.SFiles)+len(pkg.CFiles)+len(pkg.CXXFiles)+len(pkg.HFiles)+len(pkg.MFiles)+
		len(pkg.FFiles)+len(pkg.SwigFiles)+len(pkg.SwigCXXFiles)+len(pkg.SysoFiles) > 0:
		return "files other than Go"
	case len(pkg.InvalidGoFiles) > 0 || len(pkg.TestGoFiles)+len(pkg.XTestGoFiles) > 0:
		return "test or invalid files"
	case len(pkg.EmbedPatterns) > 0:
		return "go:embed"
	}
	for _, directive := range pkg.Directives {
		if strings.HasPrefix(directive.Text, "//go:debug") {
			return "go:debug"
		}
	}
	for _, path := range pkg.Imports {
		internal := path == "internal" || strings.HasPrefix(path, "internal/") || strings.Contains(path, "/internal/") ||
			strings.HasPrefix(path, "vendor/")
		if path != "unsafe" && (std[path] == "" || internal) {
			return "import " + path
		}
	}
	return ""
}

// simpleGoMod reads a go.mod of nothing but a module line, a go line, comments and blank lines.
func simpleGoMod(path string) (module, goLine string, ok bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", "", false
	}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "//") || line == "" {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 || strings.Contains(line, "//") {
			return "", "", false
		}
		switch {
		case fields[0] == "module" && module == "":
			module = fields[1]
			if unquoted, err := strconv.Unquote(module); err == nil {
				module = unquoted
			}
		case fields[0] == "go" && goLine == "":
			goLine = fields[1]
		default:
			return "", "", false
		}
	}
	return module, goLine, plainModulePath(module) && goLine != ""
}

// plainModulePath: a module path of the common shape only (the go command checks others with rules of its own).
func plainModulePath(path string) bool {
	if path == "" || strings.Contains(path, "//") || strings.Contains(path, "..") || strings.HasSuffix(path, "/") {
		return false
	}
	for i, r := range path {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			i > 0 && strings.ContainsRune("._~+/-", r)
		if !ok {
			return false
		}
	}
	return true
}

// languageVersion is the go command's -lang for goLine ("1.21", "1.21.3"), if the toolchain (version, e.g.
// "go1.27.3") may build it: not newer than itself, not a prerelease.
func languageVersion(goLine, version string) (string, bool) {
	want, ok := numbers(goLine)
	have, ok2 := numbers(strings.TrimPrefix(version, "go"))
	if !ok || !ok2 || len(want) < 2 || want[0] != 1 || len(have) < 2 {
		return "", false
	}
	for len(want) < 3 {
		want = append(want, 0)
	}
	for len(have) < 3 {
		have = append(have, 0)
	}
	for i := range 3 {
		if want[i] != have[i] {
			if want[i] > have[i] {
				return "", false
			}
			break
		}
	}
	return fmt.Sprintf("go1.%d", want[1]), true
}

func numbers(version string) ([]int, bool) {
	parts := strings.Split(version, ".")
	if len(parts) > 3 {
		return nil, false
	}
	out := make([]int, len(parts))
	for i, part := range parts {
		n, err := strconv.Atoi(part)
		if err != nil || n < 0 || (len(part) > 1 && part[0] == '0') {
			return nil, false
		}
		out[i] = n
	}
	return out, true
}

func toolchainVersion(goroot string) (string, error) {
	data, err := os.ReadFile(filepath.Join(goroot, "VERSION"))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(strings.SplitN(string(data), "\n", 2)[0]), nil
}

// defaultGodebug is the default GODEBUG the go command gives a main module of language version lang.
func defaultGodebug(lang string) (string, bool) {
	file, err := os.Open(filepath.Join(stdlibDir, "godebug"))
	if err != nil {
		return "", false
	}
	defer file.Close()
	scanner := bufio.NewScanner(file)
	scanner.Buffer(make([]byte, 64*1024), 1024*1024)
	for scanner.Scan() {
		version, value, _ := strings.Cut(scanner.Text(), " ")
		if version == lang {
			return value, true
		}
	}
	return "", false
}

func readImportcfg(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	std := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "packagefile "); ok {
			if path, file, ok := strings.Cut(rest, "="); ok {
				std[path] = file
			}
		}
	}
	return std, nil
}

func (p *directPlan) tool(name string) string {
	return filepath.Join(p.goroot, "pkg", "tool", runtime.GOOS+"_"+runtime.GOARCH, name)
}

// buildInfo is what the go command records in the binary (`go version -m`) for this build.
func (p *directPlan) buildInfo() string {
	var b strings.Builder
	fmt.Fprintf(&b, "path\t%s\nmod\t%s\t(devel)\t\n", p.module, p.module)
	b.WriteString("build\t-buildmode=exe\nbuild\t-compiler=gc\nbuild\t-trimpath=true\n")
	if p.godebug != "" {
		fmt.Fprintf(&b, "build\tDefaultGODEBUG=%s\n", p.godebug)
	}
	fmt.Fprintf(&b, "build\tCGO_ENABLED=0\nbuild\tGOARCH=%s\nbuild\tGOOS=%s\n", runtime.GOARCH, runtime.GOOS)
	if runtime.GOARCH == "amd64" {
		level := os.Getenv("GOAMD64")
		if level == "" {
			level = "v1"
		}
		fmt.Fprintf(&b, "build\tGOAMD64=%s\n", level)
	}
	return b.String()
}

// direct compiles and links the package into binary; the go command's exit code and output for the same.
func (b *buildRun) direct(p *directPlan, binary string) int {
	work := filepath.Dir(binary)
	archive := filepath.Join(work, "_pkg_.a")
	concurrency := min(runtime.GOMAXPROCS(0), 4)
	compile := []string{p.tool("compile"), "-o", archive, "-trimpath", b.dir + "=>" + p.module, "-p", "main",
		"-lang=" + p.lang, "-complete", "-goversion", p.version, fmt.Sprintf("-c=%d", concurrency), "-nolocalimports",
		"-importcfg", filepath.Join(stdlibDir, "importcfg"), "-pack"}
	if code := b.tool(p, append(compile, p.files...), ""); code != 0 {
		return code
	}
	linkcfg := filepath.Join(work, "importcfg.link")
	if err := writeLinkcfg(linkcfg, infoStart+p.buildInfo()+infoEnd); err != nil {
		fmt.Fprintln(b.out, "gosandbox-agent: "+err.Error())
		return 125
	}
	link := []string{p.tool("link"), "-o", binary, "-importcfg", linkcfg}
	if p.godebug != "" {
		link = append(link, "-X=runtime.godebugDefault="+p.godebug)
	}
	link = append(link, "-buildmode=exe", "-s", "-w", "-extld=gcc", archive)
	code := b.tool(p, link, "GOROOT=")
	_ = os.Remove(archive)
	_ = os.Remove(linkcfg)
	return code
}

// tool runs the compiler or the linker; on failure its output goes under the go command's "# <path>" line,
// and the exit code is the go command's (1).
func (b *buildRun) tool(p *directPlan, command []string, env string) int {
	out := &cappedOutput{cap: b.out.cap}
	code := b.command(command, env, out)
	if code == buildTimeoutExit || code >= 128 {
		_, _ = b.out.Write(out.buf.Bytes())
		return code
	}
	if out.buf.Len() > 0 {
		fmt.Fprintf(b.out, "# %s\n", p.module)
		_, _ = b.out.Write(out.buf.Bytes())
		b.out.cut = b.out.cut || out.cut
	}
	if code != 0 {
		return 1
	}
	return 0
}

func writeLinkcfg(path, modinfo string) error {
	std, err := os.ReadFile(filepath.Join(stdlibDir, "importcfg"))
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(std, fmt.Sprintf("modinfo %q\n", modinfo)...), 0o644)
}

// runStdlib (at image build) copies the standard library's archives, as `go build -trimpath std` left them in
// the build cache, into dir, and writes dir/importcfg and dir/godebug.
func runStdlib(args []string) {
	if len(args) != 1 {
		fail("usage: stdlib DIR")
	}
	dir := args[0]
	list := exec.Command("go", "list", "-export", "-trimpath", "-f", "{{if .Export}}{{.ImportPath}}={{.Export}}{{end}}", "std")
	list.Stderr = os.Stderr
	listed, err := list.Output()
	if err != nil {
		fail("go list std: " + err.Error())
	}
	var importcfg strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(string(listed)), "\n") {
		path, export, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		target := filepath.Join(dir, "pkg", path+".a")
		if err := copyFile(export, target); err != nil {
			fail("copy " + path + ": " + err.Error())
		}
		fmt.Fprintf(&importcfg, "packagefile %s=%s\n", path, target)
	}
	if err := os.WriteFile(filepath.Join(dir, "importcfg"), []byte(importcfg.String()), 0o644); err != nil {
		fail(err.Error())
	}
	writeGodebugTable(dir)
}

// writeGodebugTable asks the go command for the default GODEBUG of a main module of each language version.
func writeGodebugTable(dir string) {
	version, err := toolchainVersion(os.Getenv("GOROOT"))
	if err != nil {
		fail("toolchain version: " + err.Error())
	}
	have, _ := numbers(strings.TrimPrefix(version, "go"))
	work, err := os.MkdirTemp("", "godebug-")
	if err != nil {
		fail(err.Error())
	}
	defer os.RemoveAll(work)
	_ = os.WriteFile(filepath.Join(work, "main.go"), []byte("package main\n\nfunc main() {}\n"), 0o644)
	var table strings.Builder
	for minor := 0; minor <= have[1]; minor++ {
		lang := fmt.Sprintf("1.%d", minor)
		_ = os.WriteFile(filepath.Join(work, "go.mod"), []byte("module m\n\ngo "+lang+"\n"), 0o644)
		list := exec.Command("go", "list", "-f", "{{.DefaultGODEBUG}}", ".")
		list.Dir = work
		value, err := list.Output()
		if err != nil {
			continue // a go line this toolchain does not take: no direct build for it
		}
		fmt.Fprintf(&table, "go%s %s\n", lang, strings.TrimSpace(string(value)))
	}
	if err := os.WriteFile(filepath.Join(dir, "godebug"), []byte(table.String()), 0o644); err != nil {
		fail(err.Error())
	}
}

func copyFile(from, to string) error {
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
