using System.Text.Json;
using System.Text.RegularExpressions;
using Xunit.Abstractions;
// The test namespace Asio2.Rx.Tests.Kcp hides the type name Kcp.
using KcpEndpoint = Asio2.Rx.Kcp;

namespace Asio2.Rx.Tests.ReliableUdp;

/// <summary>
/// Replays every golden trace of the reference ikcp (<c>shared/kcp/vectors/*.jsonl</c>, format in its
/// README) against <see cref="KcpEndpoint"/>: every return value, every received payload and every
/// emitted packet must be identical, and no call other than update/flush may emit anything.
/// </summary>
public sealed partial class KcpConformanceTests(ITestOutputHelper output)
{
    private static string VectorsDirectory => SharedFolder.Locate(Path.Combine("kcp", "vectors"));

    /// <summary>One case per trace file, named by its scenario.</summary>
    public static TheoryData<string> Scenarios()
    {
        var data = new TheoryData<string>();
        foreach (string file in Directory.GetFiles(VectorsDirectory, "*.jsonl").Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetFileNameWithoutExtension(file));
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Scenarios))]
    public void Trace_ReplaysWithIdenticalPacketsAndReturnValues(string scenario)
    {
        var replay = new TraceReplay(scenario);
        int lineNumber = 0;
        foreach (string line in File.ReadLines(Path.Combine(VectorsDirectory, scenario + ".jsonl")))
        {
            lineNumber++;
            if (lineNumber == 1)
            {
                continue; // the header describes the run; a replayer needs nothing from it
            }

            using JsonDocument json = JsonDocument.Parse(line);
            replay.Step(lineNumber, json.RootElement);
        }

        replay.Finish();
        Assert.True(replay.Comparisons > 0, $"{scenario}: the trace compared nothing");
        output.WriteLine($"{scenario}: {lineNumber} lines, {replay.Comparisons} comparisons, all identical");
    }

    /// <summary>
    /// The directory holds every scenario the vectors README lists, each with the line count it states,
    /// so a missing or truncated file cannot pass unnoticed.
    /// </summary>
    [Fact]
    public void VectorsDirectory_HoldsEveryScenarioOfTheReadmeInFull()
    {
        string readme = File.ReadAllText(Path.Combine(VectorsDirectory, "README.md"));
        MatchCollection rows = ScenarioRow().Matches(readme);
        Assert.NotEmpty(rows);
        foreach (Match row in rows)
        {
            string file = Path.Combine(VectorsDirectory, row.Groups["name"].Value + ".jsonl");
            Assert.True(File.Exists(file), $"{file} is listed in the README but missing");
            Assert.Equal(int.Parse(row.Groups["lines"].Value), File.ReadLines(file).Count());
        }

        Assert.Equal(rows.Count, Directory.GetFiles(VectorsDirectory, "*.jsonl").Length);
    }

    // "| basic_default | 392 | 19 KiB | ..." in the README's scenario table.
    [GeneratedRegex(@"^\| (?<name>[a-z0-9_]+) \| (?<lines>\d+) \|", RegexOptions.Multiline)]
    private static partial Regex ScenarioRow();

    /// <summary>Replays one trace line by line, keeping one endpoint and one packet capture per side.</summary>
    private sealed class TraceReplay(string scenario)
    {
        private readonly Dictionary<string, Side> _sides = [];
        private int _line;
        private string _context = "";

        public int Comparisons { get; private set; }

        public void Step(int line, JsonElement call)
        {
            _line = line;
            string op = call.GetProperty("op").GetString()!;
            string sideName = call.GetProperty("side").GetString()!;
            uint t = call.GetProperty("t").GetUInt32();
            _context = $"{scenario}.jsonl line {line} (t={t}, side {sideName}, {op})";

            if (op != "output")
            {
                // Every packet the last update/flush emitted must have been listed before the next call.
                AllOutputMatched();
            }

            if (op == "create")
            {
                _sides[sideName] = new Side(call.GetProperty("conv").GetUInt32());
                return;
            }

            Side side = _sides[sideName];
            KcpEndpoint kcp = side.Kcp;
            switch (op)
            {
                case "nodelay":
                    kcp.NoDelay(Arg(call, 0), Arg(call, 1), Arg(call, 2), Arg(call, 3));
                    break;
                case "wndsize":
                    kcp.SetWindowSize(Arg(call, 0), Arg(call, 1));
                    break;
                case "setmtu":
                    ExpectRet(call, kcp.SetMtu(Arg(call, 0)));
                    break;
                case "interval":
                    kcp.SetInterval(Arg(call, 0));
                    break;
                case "stream":
                    kcp.StreamMode = Arg(call, 0) != 0;
                    break;
                case "minrto":
                    kcp.MinRto = Arg(call, 0);
                    break;
                case "fastlimit":
                    kcp.FastLimit = Arg(call, 0);
                    break;
                case "send":
                    ExpectRet(call, kcp.Send(Hex(call)));
                    break;
                case "update":
                    side.StartCapture();
                    kcp.Update(t);
                    break;
                case "flush":
                    side.StartCapture();
                    kcp.Flush();
                    break;
                case "output":
                    ExpectPacket(side, Convert.ToHexStringLower(Hex(call)));
                    break;
                case "input":
                    ExpectRet(call, kcp.Input(Hex(call)));
                    break;
                case "recv":
                    Receive(call, kcp);
                    break;
                case "peeksize":
                    ExpectRet(call, kcp.PeekSize());
                    break;
                case "waitsnd":
                    ExpectRet(call, kcp.WaitSnd);
                    break;
                case "check":
                    Expect(call.GetProperty("ret").GetUInt32(), kcp.Check(t), "check");
                    break;
                case "state":
                    ExpectRet(call, (int)kcp.State);
                    break;
                case "drop":
                    break; // the link discarded a packet: informational only
                default:
                    Assert.Fail($"{_context}: unknown op");
                    break;
            }
        }

        public void Finish()
        {
            _context = $"{scenario}.jsonl end of file after line {_line}";
            AllOutputMatched();
        }

        private void Receive(JsonElement call, KcpEndpoint kcp)
        {
            // A negative bufsize is a peek with a buffer of -bufsize bytes.
            int bufSize = call.GetProperty("bufsize").GetInt32();
            byte[] buffer = new byte[Math.Abs(bufSize)];
            int ret = bufSize < 0 ? kcp.Peek(buffer) : kcp.Receive(buffer);
            ExpectRet(call, ret);
            if (ret >= 0)
            {
                Expect(call.GetProperty("hex").GetString(), Convert.ToHexStringLower(buffer, 0, ret), "payload");
            }
        }

        private void ExpectPacket(Side side, string expectedHex)
        {
            if (side.Matched == side.Captured.Count)
            {
                Assert.Fail($"{_context}: packet #{side.Matched + 1} of the last update/flush is missing; expected {expectedHex}");
            }

            Expect(expectedHex, Convert.ToHexStringLower(side.Captured[side.Matched]), $"packet #{side.Matched + 1}");
            side.Matched++;
        }

        private void AllOutputMatched()
        {
            foreach ((string name, Side side) in _sides)
            {
                if (side.Matched != side.Captured.Count)
                {
                    Assert.Fail($"{_context}: side {name} emitted {side.Captured.Count - side.Matched} unexpected packet(s), " +
                                $"first {Convert.ToHexStringLower(side.Captured[side.Matched])}");
                }
            }
        }

        private void ExpectRet(JsonElement call, int actual) => Expect(call.GetProperty("ret").GetInt32(), actual, "return value");

        private void Expect<T>(T expected, T actual, string what)
        {
            Comparisons++;
            if (!EqualityComparer<T>.Default.Equals(expected, actual))
            {
                Assert.Fail($"{_context}: {what} differs\n  expected {expected}\n  actual   {actual}");
            }
        }

        private static int Arg(JsonElement call, int index) => call.GetProperty("args")[index].GetInt32();

        private static byte[] Hex(JsonElement call) => Convert.FromHexString(call.GetProperty("hex").GetString()!);
    }

    /// <summary>One endpoint of the trace and the packets its last update/flush emitted.</summary>
    private sealed class Side
    {
        public Side(uint conv) => Kcp = new KcpEndpoint(conv, static (packet, state) => ((Side)state!).Captured.Add(packet.ToArray()), this);

        public KcpEndpoint Kcp { get; }

        public List<byte[]> Captured { get; } = [];

        public int Matched { get; set; }

        public void StartCapture()
        {
            Captured.Clear();
            Matched = 0;
        }
    }
}
