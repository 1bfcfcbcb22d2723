using System.Diagnostics;
using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;
using FsCheck;
using FsCheck.Fluent;
using Parley.Protocol;
using Parley.Security.Tests.Support;
using Parley.Testing;
using Xunit.Abstractions;

namespace Parley.Security.Tests;

/// <summary>
/// Property-based fuzzing of everything a client can send. Over 100,000 hostile frames go straight into
/// <see cref="ClientFrameParser"/>; thousands more go over real sockets to a real node, and hostile bodies to every
/// REST call: no exception escapes, nothing answers 5xx, no invalid frame stores anything, memory stays flat.
/// </summary>
[Trait("Tier", "Security")]
public sealed class FuzzTests(ITestOutputHelper output)
{
    private const int ParserFrames = 120_000;
    private const int SocketFrames = 3_000;
    private const int PreHelloFrames = 400;
    private const int RestBodies = 1_200;

    private static readonly string[] SampleConvs = ["r0000000000000000", "d0000000000000000", "rAbC_-123"];

    [Fact]
    public void The_parser_survives_120000_hostile_frames_and_accepts_only_what_the_rules_allow()
    {
        var outcomes = new Dictionary<string, int>(StringComparer.Ordinal);
        var clock = Stopwatch.StartNew();
        var property = Prop.ForAll(HostileFrames.Frame(SampleConvs).ToArbitrary(), bytes =>
        {
            var result = ClientFrameParser.Parse(bytes);
            var outcome = CheckInvariants(result);
            lock (outcomes)
            {
                outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
            }
        });
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(ParserFrames).WithQuietOnSuccess(true), property);
        output.WriteLine($"{outcomes.Values.Sum()} frames in {clock.Elapsed.TotalSeconds:0.0} s: " + string.Join(", ", outcomes.OrderByDescending(o => o.Value).Select(o => $"{o.Key} {o.Value}")));

        Assert.True(outcomes.Values.Sum() >= ParserFrames);
        // The generator reaches every outcome: accepted frames of each op and each refusal code.
        foreach (var expected in new[] { "ok send", "ok read", "ok delivered", "ok typing", "ok ping", "ok hello", "invalid", "unauthorized", "too_large" })
        {
            Assert.True(outcomes.GetValueOrDefault(expected) > 50, $"only {outcomes.GetValueOrDefault(expected)} frames ended as '{expected}'");
        }
    }

    [Fact]
    public void Every_well_formed_frame_is_accepted_with_its_fields_exactly_as_sent()
    {
        var property = Prop.ForAll(HostileFrames.ValidFrame.ToArbitrary(), valid =>
        {
            var result = ClientFrameParser.Parse(valid.Bytes);
            Assert.True(result.IsOk, $"refused ({result.ErrorCode}: {result.ErrorMessage}): {Encoding.UTF8.GetString(valid.Bytes)}");
            var frame = result.Frame!;
            Assert.Equal(valid.Op, frame.Op.ToString().ToLowerInvariant());
            Assert.Equal(valid.Conv, frame.Conv);
            switch (frame.Op)
            {
                case ClientOp.Send:
                    Assert.Equal(valid.ClientMsgId, frame.ClientMsgId);
                    Assert.Equal(valid.Body, frame.Body);
                    break;
                case ClientOp.Read:
                case ClientOp.Delivered:
                    Assert.Equal(valid.Seq, frame.Seq);
                    break;
            }
        });
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(5_000).WithQuietOnSuccess(true), property);
    }

    [Fact]
    public async Task Thousands_of_hostile_frames_over_real_sockets_are_answered_exactly_as_the_parser_says_and_store_nothing()
    {
        await using var node = await SecurityNode.StartAsync(new Dictionary<string, string?> { ["SendRatePerSecond"] = "1000000", ["SendBurst"] = "1000000" });
        using var api = new ApiClient(node.BaseUri);
        var user = await api.RegisterAsync("fuzz");
        var room = await api.CreateRoomAsync(user, "fuzzed");
        var dm = await api.OpenDmAsync(user, (await api.RegisterAsync("peer")).Username);
        string[] convs = [room, dm, .. SampleConvs];
        var frames = HostileFrames.Frame(convs).Sample(numberOfSamples: SocketFrames, size: 50);
        await using (var warm = await WsTestClient.ConnectAndHelloAsync(node.WsUri, user.Token))
        {
            await warm.SendAsync(new { op = "ping" });
            await warm.WaitForOpAsync("pong");
        }

        var heapBefore = Stats.HeapAfterFullGc();
        var clock = Stopwatch.StartNew();
        var acceptedSends = new HashSet<string>(StringComparer.Ordinal);
        var pending = new List<string>();
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        WsTestClient? ws = null;
        var reconnects = 0;
        try
        {
            for (var i = 0; i < frames.Length; i++)
            {
                if (ws is null || ws.Closed.IsCompleted)
                {
                    if (ws is not null)
                    {
                        await ws.DisposeAsync();
                    }

                    ws = await WsTestClient.ConnectAndHelloAsync(node.WsUri, user.Token);
                    reconnects++;
                    pending.Clear();
                }

                var bytes = frames[i];
                var expected = Expect(bytes);
                counts[expected.Kind] = counts.GetValueOrDefault(expected.Kind) + 1;
                var mark = ws.All.Count;
                try
                {
                    await ws.SendBytesAsync(bytes);
                }
                catch (WebSocketException)
                {
                    // An oversize frame can be cut off while it is still being written.
                }

                if (expected.Close is { } codes)
                {
                    // The server stops reading mid-frame; with unread bytes left its close may arrive as a reset instead.
                    var closed = await ws.WaitClosedAsync(TimeSpan.FromSeconds(10));
                    Assert.True(closed is null || codes.Contains(closed.Value), $"frame {i} ({Describe(bytes)}) should close the socket with {string.Join(" or ", codes)}, not {closed}");
                    counts["closed with " + (closed?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "reset")] = counts.GetValueOrDefault("closed with " + (closed?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "reset")) + 1;
                    continue;
                }

                // A ping behind the frame: the socket processed the frame when its pong arrives (refusals are answered inline).
                var sentinel = "s" + i;
                await ws.SendAsync(new { op = "ping", t = sentinel });
                await ws.WaitForAsync(f => f.Op() == "pong" && f.Str("t") == sentinel);
                var answers = ws.All.Skip(mark).ToList();
                if (expected.Error is { } error)
                {
                    Assert.True(
                        answers.Any(f => f.Op() == "error" && f.Str("code") == error.Code && f.Str("ref") == error.Ref),
                        $"frame {i} ({Describe(bytes)}) should get error {error.Code}/{error.Ref}; got {string.Join(" ", answers)}");
                }
                else if (expected.Send is { } cid)
                {
                    acceptedSends.Add(cid);
                    pending.Add(cid);
                }

                Assert.DoesNotContain(answers, f => f.Op() == "error" && f.Str("code") == ErrorCodes.Unavailable);
            }

            // Accepted sends are answered asynchronously: wait for every one still open on the last connection.
            foreach (var cid in pending)
            {
                await ws!.SeenAsync(f => (f.Op() == "ack" || f.Op() == "error") && (f.Str("clientMsgId") == cid || f.Str("ref") == cid), TimeSpan.FromSeconds(30));
            }
        }
        finally
        {
            if (ws is not null)
            {
                await ws.DisposeAsync();
            }
        }

        var elapsed = clock.Elapsed;
        // Nothing stored but what was acknowledged, and what was stored obeys the body rules.
        var stored = (await api.AllMessagesAsync(user, room)).Concat(await api.AllMessagesAsync(user, dm)).ToList();
        Assert.All(stored, m => Assert.Null(ProtocolRules.CheckBody(m.Str("body"))));
        Assert.All(stored, m => Assert.Contains(m.Str("clientMsgId")!, acceptedSends));
        var heapGrowth = Stats.HeapAfterFullGc() - heapBefore;
        output.WriteLine($"{frames.Length} frames over sockets in {elapsed.TotalSeconds:0.0} s ({reconnects} connections): {string.Join(", ", counts.OrderByDescending(c => c.Value).Select(c => $"{c.Key} {c.Value}"))}; {stored.Count} stored from {acceptedSends.Count} valid sends; managed heap growth {heapGrowth / 1024.0 / 1024:0.0} MiB");
        Assert.True(counts.GetValueOrDefault("refused") > SocketFrames / 2, "most frames should be refused");
        Assert.True(heapGrowth < 64L * 1024 * 1024, $"managed heap grew by {heapGrowth / 1024 / 1024} MiB");
        Assert.Empty(node.Logs.Errors);
        Assert.Equal(HttpStatusCode.OK, (await api.CallAsync(HttpMethod.Get, "healthz")).Status);
    }

    [Fact]
    public async Task Hostile_frames_before_hello_are_refused_and_store_nothing()
    {
        await using var node = await SecurityNode.StartAsync();
        using var api = new ApiClient(node.BaseUri);
        var user = await api.RegisterAsync("prehello");
        var room = await api.CreateRoomAsync(user, "untouched");
        var frames = HostileFrames.Frame([room]).Sample(numberOfSamples: PreHelloFrames, size: 50);
        WsTestClient? ws = null;
        try
        {
            for (var i = 0; i < frames.Length; i++)
            {
                if (ws is null || ws.Closed.IsCompleted)
                {
                    if (ws is not null)
                    {
                        await ws.DisposeAsync();
                    }

                    ws = await WsTestClient.ConnectAsync(node.WsUri);
                }

                var expected = Expect(frames[i]);
                var mark = ws.All.Count;
                try
                {
                    await ws.SendBytesAsync(frames[i]);
                }
                catch (WebSocketException)
                {
                }

                if (expected.Close is not null)
                {
                    await ws.WaitClosedAsync(TimeSpan.FromSeconds(10));
                    continue;
                }

                // Before hello every frame is refused; a hello with a bad token also closes with 4001.
                var answer = await ws.SeenAsync(f => ws.All.Skip(mark).Contains(f) && f.Op() == "error");
                Assert.True(answer.Str("code") is ErrorCodes.Unauthorized or ErrorCodes.Invalid or ErrorCodes.TooLarge, answer.GetRawText());
                Assert.DoesNotContain(ws.All, f => f.Op() is "welcome" or "ack" or "msg");
                if (answer.Str("code") == ErrorCodes.Unauthorized && answer.Str("ref") == "hello")
                {
                    // A refused hello's close frame follows its error: the next frame goes to a new socket, not to one
                    // the server has stopped reading (a send whose clientMsgId is "hello" keeps its socket: no close).
                    await Task.WhenAny(ws.Closed, Task.Delay(1_000));
                }
            }
        }
        finally
        {
            if (ws is not null)
            {
                await ws.DisposeAsync();
            }
        }

        Assert.Empty(await api.AllMessagesAsync(user, room));
        Assert.Equal(0, node.Node.Hub.SessionCount);
        Assert.Empty(node.Logs.Errors);
    }

    [Fact]
    public async Task Hostile_bodies_paths_and_queries_on_every_rest_call_never_get_a_5xx()
    {
        await using var node = await SecurityNode.StartAsync(new Dictionary<string, string?> { ["LoginFailuresPerAddress"] = "1000000", ["LoginFailuresPerAccount"] = "1000000" });
        using var api = new ApiClient(node.BaseUri);
        var user = await api.RegisterAsync("restfuzz");
        var room = await api.CreateRoomAsync(user, "rest fuzzed");
        // The fuzzed user may well leave the room; the observer stays to read what was stored.
        var observer = await api.RegisterAsync("observer");
        await api.JoinAsync(observer, room);
        var bodies = HostileFrames.Value.Sample(numberOfSamples: RestBodies, size: 100);
        var strings = HostileFrames.HostileString.Sample(numberOfSamples: RestBodies, size: 100);
        string[] posts = ["api/v1/auth/register", "api/v1/auth/login", "api/v1/rooms", $"api/v1/rooms/{room}/join", $"api/v1/rooms/{room}/members", "api/v1/dms", $"api/v1/conversations/{room}/messages", $"api/v1/rooms/{room}/leave"];
        string[] fields = ["username", "password", "name", "private", "clientMsgId", "body"];
        var statuses = new Dictionary<int, int>();
        using var http = new HttpClient { BaseAddress = node.BaseUri };
        for (var i = 0; i < RestBodies; i++)
        {
            var path = posts[i % posts.Length];
            // Half the time a hostile value in a real field of an otherwise plausible object, else any value at all.
            var json = i % 2 == 0 ? bodies[i] : "{" + string.Join(",", fields.Select((f, j) => $"\"{f}\":{(j == i % fields.Length ? bodies[i] : "\"ok-value-1\"")}")) + "}";
            using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new ByteArrayContent(Encoding.UTF8.GetBytes(json)) };
            request.Content.Headers.TryAddWithoutValidation("Content-Type", "application/json");
            request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + user.Token);
            using var response = await http.SendAsync(request);
            statuses[(int)response.StatusCode] = statuses.GetValueOrDefault((int)response.StatusCode) + 1;
            Assert.True((int)response.StatusCode < 500, $"{(int)response.StatusCode} for POST {path} {Truncate(json)}");
            if ((int)response.StatusCode >= 400)
            {
                using var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
                Assert.NotNull(error.RootElement.GetProperty("error").Str("code"));
            }

            // Hostile ids in paths and hostile query strings.
            var id = Uri.EscapeDataString(strings[i].Length > 2000 ? strings[i][..2000] : strings[i]);
            foreach (var get in new[] { $"api/v1/conversations/{id}/messages", $"api/v1/conversations/{room}/messages?after={id}&before={id}&limit={id}", $"api/v1/rooms/{id}/join" })
            {
                using var probe = new HttpRequestMessage(get.Contains("join", StringComparison.Ordinal) ? HttpMethod.Post : HttpMethod.Get, get);
                probe.Headers.TryAddWithoutValidation("Authorization", "Bearer " + user.Token);
                using var answer = await http.SendAsync(probe);
                statuses[(int)answer.StatusCode] = statuses.GetValueOrDefault((int)answer.StatusCode) + 1;
                Assert.True((int)answer.StatusCode < 500, $"{(int)answer.StatusCode} for {Truncate(get)}");
            }
        }

        output.WriteLine($"{statuses.Values.Sum()} REST requests: " + string.Join(", ", statuses.OrderBy(s => s.Key).Select(s => $"{s.Key}×{s.Value}")));
        Assert.Empty(node.Logs.Errors);
        var stored = await api.AllMessagesAsync(observer, room);
        Assert.All(stored.Select(m => m.Str("body")), b => Assert.Null(ProtocolRules.CheckBody(b)));
    }

    /// <summary>What the server must do with a frame on an authenticated socket.</summary>
    private static (string Kind, int[]? Close, (string Code, string? Ref)? Error, string? Send) Expect(byte[] bytes)
    {
        // RFC 6455 8.1: a text frame that is not UTF-8 fails the connection (the WebSocket layer closes with 1007);
        // an oversize frame closes with 1009; a frame that is both gets whichever the server meets first.
        var utf8 = Utf8.IsValid(bytes);
        if (bytes.Length > ProtocolRules.MaxFrameBytes)
        {
            return ("oversize", utf8 ? [1009] : [1009, 1007], null, null);
        }

        if (!utf8)
        {
            return ("invalid UTF-8", [1007], null, null);
        }

        var result = ClientFrameParser.Parse(bytes);
        if (!result.IsOk)
        {
            return ("refused", null, (result.ErrorCode!, result.Ref), null);
        }

        return result.Frame!.Op switch
        {
            ClientOp.Hello => ("hello again", null, (ErrorCodes.Invalid, "hello"), null),
            ClientOp.Send => ("valid send", null, null, result.Frame.ClientMsgId),
            var op => ("valid " + op.ToString().ToLowerInvariant(), null, null, null),
        };
    }

    private static string CheckInvariants(ClientFrameResult result)
    {
        Assert.Equal(result.IsOk, result.Frame is not null);
        if (!result.IsOk)
        {
            Assert.Contains(result.ErrorCode, new[] { ErrorCodes.Invalid, ErrorCodes.Unauthorized, ErrorCodes.TooLarge });
            Assert.False(string.IsNullOrEmpty(result.ErrorMessage));
            Assert.True(result.Ref is null || result.Ref.Length <= ProtocolRules.MaxIdLength, "a ref echoes at most 64 characters");
            // Echoed text must survive JSON encoding unchanged: no half of a surrogate pair.
            Assert.True(result.Ref is null || ProtocolRules.IsWellFormed(result.Ref), "the ref is not well-formed text");
            Assert.True(ProtocolRules.IsWellFormed(result.ErrorMessage!), "the message is not well-formed text");
            return result.ErrorCode!;
        }

        var f = result.Frame!;
        switch (f.Op)
        {
            case ClientOp.Send:
                Assert.True(ProtocolRules.IsValidId(f.Conv) && ProtocolRules.IsValidId(f.ClientMsgId));
                Assert.Null(ProtocolRules.CheckBody(f.Body));
                break;
            case ClientOp.Read:
            case ClientOp.Delivered:
                Assert.True(ProtocolRules.IsValidId(f.Conv) && ProtocolRules.IsValidSeq(f.Seq));
                break;
            case ClientOp.Typing:
                Assert.True(ProtocolRules.IsValidId(f.Conv));
                break;
            case ClientOp.Hello:
                Assert.False(string.IsNullOrEmpty(f.Token));
                Assert.True(f.Resume is null || (f.Resume.Count <= 10_000 && f.Resume.All(r => ProtocolRules.IsValidId(r.Key) && ProtocolRules.IsValidSeq(r.Value))));
                break;
            case ClientOp.Ping when f.PingT is not null:
                // The server writes t back raw into the pong: it must be exactly one JSON number or string.
                using (var t = JsonDocument.Parse(f.PingT))
                {
                    Assert.True(t.RootElement.ValueKind is JsonValueKind.Number or JsonValueKind.String);
                    Assert.True(f.PingT.Length <= 6 * 64 + 2);
                }

                break;
        }

        return "ok " + f.Op.ToString().ToLowerInvariant();
    }

    private static string Describe(byte[] bytes) => Truncate(Encoding.UTF8.GetString(bytes));

    private static string Truncate(string s) => s.Length <= 300 ? s : s[..300] + $"… ({s.Length} chars)";
}
