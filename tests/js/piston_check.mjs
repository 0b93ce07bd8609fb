// The piston-client npm package against a live gosandbox: prints one JSON object of what it got back.
// Usage: node piston_check.mjs http://127.0.0.1:PORT   (tests/test_docker_piston.py asserts on it)
import { piston } from "piston-client";

const client = piston({ server: process.argv[2] });
// Pauses between the writes: the order is what the sandbox's reader sees, and writes a few ms apart may swap.
const HELLO = 'package main\n\nimport (\n\t"fmt"\n\t"os"\n\t"time"\n)\n\nfunc main() {\n\tfmt.Println("hello")\n\ttime.Sleep(100 * time.Millisecond)\n\tfmt.Fprintln(os.Stderr, "warn")\n\ttime.Sleep(100 * time.Millisecond)\n\tfmt.Println("bye")\n}\n';
const ECHO = 'package main\n\nimport (\n\t"bufio"\n\t"fmt"\n\t"os"\n)\n\nfunc main() {\n\tline, _ := bufio.NewReader(os.Stdin).ReadString(\'\\n\')\n\tfmt.Printf("%q %q\\n", line, os.Args[1:])\n}\n';
const BROKEN = "package main\n\nfunc main() {\n\tundefined()\n}\n";
const SLEEPY = 'package main\n\nimport "time"\n\nfunc main() { time.Sleep(time.Minute) }\n';
const MAIN = "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(greeting()) }\n";
const GREETING = 'package main\n\nfunc greeting() string { return "from another file" }\n';

const out = {};
out.runtimes = await client.runtimes();
out.ok = await client.execute("go", HELLO);
out.compileError = await client.execute("go", BROKEN);
out.timeout = await client.execute({ language: "go", files: [{ content: SLEEPY }], runTimeout: 1000 });
out.stdinArgs = await client.execute("go", ECHO, { stdin: "hi there", args: ["x", "y z"] });
out.multiFile = await client.execute({
  language: "golang",
  version: "1.x",
  files: [{ name: "main.go", content: MAIN }, { name: "greeting.go", content: GREETING }],
});
out.tooLong = await client.execute({ language: "go", files: [{ content: HELLO }], runTimeout: 3600000 });
console.log(JSON.stringify(out));
