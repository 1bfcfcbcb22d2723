using System.Text;
using BenchmarkDotNet.Attributes;
using Parley.Protocol;

namespace Parley.Benchmarks;

/// <summary>Client frame parsing (strict reader and validation) and server frame serialization.</summary>
[MemoryDiagnoser]
public class FrameBenchmarks
{
    private readonly byte[] _send = Encoding.UTF8.GetBytes("{\"op\":\"send\",\"conv\":\"r0123456789abcdef\",\"clientMsgId\":\"9f1c2d3e4b5a69788796a5b4c3d2e1f0\",\"body\":\"" + new string('x', 100) + "\"}");
    private readonly byte[] _hello = Encoding.UTF8.GetBytes("{\"op\":\"hello\",\"token\":\"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MTIzIn0.abcdefghijklmnopqrstuvwxyz\",\"resume\":{\"r0123456789abcdef\":42,\"d0123456789abcdef\":7}}");
    private readonly StoredMessage _message = new("r0123456789abcdef", 12345, "m01234567890123456789", "u0123456789abcdef", "alice", new string('x', 100), 1_700_000_000_000, "9f1c2d3e4b5a69788796a5b4c3d2e1f0", "node-5080");

    [Benchmark]
    public bool ParseSend() => ClientFrameParser.Parse(_send).IsOk;

    [Benchmark]
    public bool ParseHello() => ClientFrameParser.Parse(_hello).IsOk;

    [Benchmark]
    public int SerializeMessage() => ServerFrames.Message(_message).Length;

    [Benchmark]
    public int SerializeAck() => ServerFrames.Ack("r0123456789abcdef", "9f1c2d3e4b5a69788796a5b4c3d2e1f0", 12345, 1_700_000_000_000).Length;
}
