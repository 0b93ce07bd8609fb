"""Race reports read as data, from real captures of the pinned toolchain's race runtime (tests/unit/race_reports/:
the stderr of ``go build -race`` programs and of a ``go test -c -race`` binary), and the refusal of cgo."""

from __future__ import annotations

from pathlib import Path

import pytest

from gosandbox.binary_cache import BinaryCache
from gosandbox.errors import InvalidSource
from gosandbox.jobs.submission import JobRequest, Kind
from gosandbox.race import (
    MAX_RACES,
    AccessKind,
    Frame,
    check_race_sources,
    imports_c,
    parse_races,
    race_message,
)
from gosandbox.source import make_spec, with_race

CAPTURES = Path(__file__).parent / "race_reports"
PROGRAM = {"main.go": "package main\n", "go.mod": "module sandbox\n\ngo 1.27\n"}
TESTED = {"calc.go": "", "calc_test.go": "", "store/store.go": "", "go.mod": "module example.com/calc\n\ngo 1.27\n"}


def capture(name: str) -> str:
    return (CAPTURES / name).read_text()


def test_two_goroutines_incrementing_a_counter() -> None:
    [race] = parse_races(capture("counter.txt"), PROGRAM)
    read, write = race.accesses
    assert (read.kind, read.goroutine, read.previous) == (AccessKind.READ, 8, False)
    assert (write.kind, write.goroutine, write.previous) == (AccessKind.WRITE, 9, True)
    assert read.frames == [Frame("main.main.func1", "main.go", 15)]
    assert write.frames == [Frame("main.main.func1", "main.go", 15)]
    assert [(c.goroutine, c.frames) for c in race.created] == [
        (8, [Frame("main.main", "main.go", 13)]),
        (9, [Frame("main.main", "main.go", 13)]),
    ]
    assert race.test is None


def test_the_main_goroutine_is_goroutine_1() -> None:
    [race] = parse_races(capture("main_goroutine.txt"), PROGRAM)
    assert [(a.kind, a.goroutine, a.frames[0].line) for a in race.accesses] == [
        (AccessKind.READ, 1, 15),
        (AccessKind.WRITE, 8, 12),
    ]
    message = race_message([race], PROGRAM)
    assert message == "data race: read at main.go:15 (goroutine 1), write at main.go:12 (goroutine 8)"


def test_a_test_binarys_races_name_their_test_and_the_submissions_files() -> None:
    races = parse_races(capture("test_map.txt"), TESTED, tests=True)
    assert len(races) == 2
    first = races[0].accesses[0]
    # The standard library's frame keeps Go's name; the submission's files are named as it names them.
    assert first.frames[0] == Frame("runtime.mapassign_faststr", "internal/runtime/maps/runtime_faststr.go", 261)
    assert first.frames[1] == Frame("example.com/calc/store.Put", "store/store.go", 7)
    assert first.frames[2] == Frame("example.com/calc.TestRacy.func1", "calc_test.go", 16)
    assert {race.test for race in races} == {"TestRacy"}
    assert races[0].created[0].frames[1] == Frame("testing.tRunner", "testing/testing.go", 2195)
    # The message points at the first line of the submission's own, not the runtime's.
    assert race_message(races, TESTED) == (
        "data race: write at store/store.go:7 (goroutine 10), write at store/store.go:7 (goroutine 9); 1 more"
    )


def test_a_program_without_a_race_or_with_other_output_has_none() -> None:
    assert parse_races("", PROGRAM) == []
    assert parse_races("panic: boom\n\ngoroutine 1 [running]:\nmain.main()\n\t/x/main.go:3 +0x1\n", PROGRAM) == []
    # A program that prints the separator itself starts no report.
    assert parse_races("==================\nRead at 0x1 by goroutine 2:\n==================\n", PROGRAM) == []


def test_races_are_capped() -> None:
    many = capture("counter.txt").replace("Found 1 data race(s)\n", "") * (MAX_RACES + 5)
    assert len(parse_races(many, PROGRAM)) == MAX_RACES


def test_a_cut_report_keeps_what_it_has() -> None:
    cut = capture("counter.txt")[:170]  # inside the second access's stack
    [race] = parse_races(cut, PROGRAM)
    assert race.accesses[0].frames == [Frame("main.main.func1", "main.go", 15)]


@pytest.mark.parametrize(
    ("source", "imports"),
    [
        ('package main\n\nimport "C"\n', True),
        ("package main\n\n// #include <stdio.h>\nimport `C`\n", True),
        ('package main\n\nimport (\n\t"fmt"\n\t_ "C"\n)\n', True),
        ('package main\nimport "fmt"\nimport /* x */ c "C"\n', True),
        ('package main;import "fmt";import "C"', True),
        ('package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("C") }\n', False),
        ('package main\n\n/*\nimport "C"\n*/\nimport "fmt"\n', False),
        ('package main\n\n// import "C"\nfunc main() {}\n', False),
        ('package main\n\nvar s = `\nimport "C"\n`\n', False),
    ],
)
def test_imports_c_reads_the_import_declarations_only(source: str, imports: bool) -> None:
    assert imports_c(source) is imports


@pytest.mark.parametrize(
    "source",
    [
        'package main\n\n// #cgo LDFLAGS: -Wl,-T,/etc/passwd\nimport "C"\n\nfunc main() {}\n',
        'package main\n\n//go:cgo_ldflag "-Wl,-T,/etc/passwd"\n\nfunc main() {}\n',
        "package main\n\n/*\n#cgo CFLAGS: -fplugin=/tmp/x.so\n*/\nfunc main() {}\n",
        'package main\n\n//go:cgo_import_dynamic libc_puts puts "libc.so.6"\n\nfunc main() {}\n',
        'package main\n\nimport "C"\n\nfunc main() {}\n',
    ],
)
def test_a_race_build_refuses_what_speaks_to_the_c_toolchain(source: str) -> None:
    spec = make_spec({"main.go": "package main\n\nfunc main() {}\n", "cgo.go": source})
    with pytest.raises(InvalidSource, match=r"cgo\.go: .*(cgo|C toolchain)"):
        with_race(spec)
    assert with_race(spec, race=False) is spec  # without race, the build refuses these as it always has


def test_a_race_build_of_go_code_is_accepted() -> None:
    spec = with_race(make_spec({"main.go": 'package main\n\nfunc main() { println("C", "#cgo") }\n'}))
    assert spec.race
    check_race_sources({"README.md": '#cgo LDFLAGS: -lm\nimport "C"\n'})  # not Go: never compiled


def test_a_race_binary_has_its_own_cache_key(tmp_path: Path) -> None:
    cache = BinaryCache(tmp_path, max_bytes=1 << 20, build_identity="builder:1")
    files = {"main.go": "package main\n\nfunc main() {}\n"}
    assert cache.key(files, "go1.27.3", race=True) != cache.key(files, "go1.27.3")
    assert cache.key(files, "go1.27.3", race=False) == cache.key(files, "go1.27.3")


def test_a_stored_race_job_is_a_race_job_again() -> None:
    request = JobRequest(Kind.RUN, with_race(make_spec({"main.go": "package main\n\nfunc main() {}\n"})))
    assert JobRequest.from_json(request.to_json()).spec.race
    plain = JobRequest(Kind.RUN, make_spec({"main.go": "package main\n\nfunc main() {}\n"}))
    assert "race" not in plain.to_json()
    assert not JobRequest.from_json(plain.to_json()).spec.race
