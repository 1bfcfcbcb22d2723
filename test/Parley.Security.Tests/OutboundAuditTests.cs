using System.Net;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Parley.Security.Tests.Support;
using Parley.Testing;

namespace Parley.Security.Tests;

/// <summary>
/// The outbound audit: every REST answer and every WebSocket frame kind Parley sends, recorded from a session that
/// produces all of them, is compared field by field (names and JSON types) with a reviewed snapshot; no answer or event
/// carries a password, a password hash, a signing key, another user's token, or another user's private view.
/// </summary>
[Trait("Tier", "Security")]
public sealed class OutboundAuditTests
{
    private const string Key = "outbound-audit-signing-key-0123456789-abcdef";
    private const string Password = "correct horse battery";

    private readonly Schema _schema = new();
    private readonly List<(string Kind, string Text)> _outputs = [];

    [Fact]
    public async Task Every_answer_and_frame_matches_the_reviewed_schema_and_carries_no_secret()
    {
        // A small backlog limit so a reconnect produces a gap frame.
        await using var node = await SecurityNode.StartAsync(new Dictionary<string, string?> { ["JwtKey"] = Key, ["BacklogLimit"] = "5" });
        using var api = new ApiClient(node.BaseUri);

        var alice = await RegisterAsync(api, "alice");
        var bob = await RegisterAsync(api, "bob");
        var carol = await RegisterAsync(api, "carol");
        await CallAsync(api, "POST /api/v1/auth/register", HttpMethod.Post, "api/v1/auth/register", new { username = alice.Username, password = Password });
        var login = await CallAsync(api, "POST /api/v1/auth/login", HttpMethod.Post, "api/v1/auth/login", new { username = alice.Username, password = Password });
        Assert.Equal(HttpStatusCode.OK, login.Status);
        await CallAsync(api, "POST /api/v1/auth/login", HttpMethod.Post, "api/v1/auth/login", new { username = alice.Username, password = "wrong password" });
        await CallAsync(api, "POST /api/v1/auth/register", HttpMethod.Post, "api/v1/auth/register", new { username = "x", password = "y" });

        await using var aliceWs = await WsTestClient.ConnectAndHelloAsync(node.WsUri, alice.Token);
        // Disposed half-way, below.
        var bobWs = await WsTestClient.ConnectAndHelloAsync(node.WsUri, bob.Token);

        var room = (await CallAsync(api, "POST /api/v1/rooms", HttpMethod.Post, "api/v1/rooms", new { name = "audit room" }, alice.Token)).Body.Str("id")!;
        var secret = (await CallAsync(api, "POST /api/v1/rooms", HttpMethod.Post, "api/v1/rooms", new { name = "audit private", @private = true }, alice.Token)).Body.Str("id")!;
        await CallAsync(api, "GET /api/v1/rooms", HttpMethod.Get, "api/v1/rooms", null, bob.Token);
        await CallAsync(api, "POST /api/v1/rooms/{id}/join", HttpMethod.Post, $"api/v1/rooms/{room}/join", null, bob.Token);
        await CallAsync(api, "POST /api/v1/rooms/{id}/join", HttpMethod.Post, $"api/v1/rooms/{secret}/join", null, bob.Token);
        await CallAsync(api, "POST /api/v1/rooms/{id}/members", HttpMethod.Post, $"api/v1/rooms/{secret}/members", new { username = carol.Username }, alice.Token);
        await CallAsync(api, "POST /api/v1/rooms/{id}/members", HttpMethod.Post, $"api/v1/rooms/{secret}/members", new { username = bob.Username }, carol.Token);
        var dm = (await CallAsync(api, "POST /api/v1/dms", HttpMethod.Post, "api/v1/dms", new { username = alice.Username }, bob.Token)).Body.Str("id")!;
        await bobWs.SeenAsync(f => f.Op() == "conversation" && f.GetProperty("conversation").Str("id") == dm);

        // Messages over both paths, a retry, typing, receipts, presence, member changes.
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal("ack", (await aliceWs.SendMessageAsync(room, "hello " + i)).Op());
        }

        await CallAsync(api, "POST /api/v1/conversations/{id}/messages", HttpMethod.Post, $"api/v1/conversations/{dm}/messages", new { clientMsgId = "rest-1", body = "over rest" }, bob.Token);
        await CallAsync(api, "POST /api/v1/conversations/{id}/messages", HttpMethod.Post, $"api/v1/conversations/{dm}/messages", new { clientMsgId = "rest-1", body = "over rest" }, bob.Token);
        await bobWs.SendAsync(new { op = "typing", conv = room });
        await aliceWs.SeenAsync(f => f.Op() == "typing");
        await bobWs.SendAsync(new { op = "read", conv = room, seq = 1 });
        await aliceWs.SeenAsync(f => f.Op() == "receipt" && f.Str("kind") == "read");
        await using (var carolWs = await WsTestClient.ConnectAndHelloAsync(node.WsUri, carol.Token))
        {
            await aliceWs.SeenAsync(f => f.Op() == "presence" && f.Str("status") == "online");
            await CallAsync(api, "POST /api/v1/rooms/{id}/join", HttpMethod.Post, $"api/v1/rooms/{room}/join", null, carol.Token);
            await CallAsync(api, "POST /api/v1/rooms/{id}/leave", HttpMethod.Post, $"api/v1/rooms/{room}/leave", null, carol.Token);
            await carolWs.SeenAsync(f => f.Op() == "member" && f.Str("change") == "left");
            Record(carolWs);
        }

        await aliceWs.SeenAsync(f => f.Op() == "presence" && f.Str("status") == "offline");
        await aliceWs.SendAsync(new { op = "ping", t = 42 });
        await aliceWs.SeenAsync(f => f.Op() == "pong");
        await aliceWs.SendAsync(new { op = "ping", t = "text" });
        await aliceWs.SendRawAsync("{not json");
        await aliceWs.SendAsync(new { op = "send", conv = room, clientMsgId = "bad", body = "" });
        await aliceWs.SeenAsync(f => f.Op() == "error" && f.Str("ref") == "bad");

        // Bob misses more than the backlog limit: his next hello starts with a gap.
        await bobWs.DisposeAsync();
        for (var i = 0; i < 8; i++)
        {
            await aliceWs.SendMessageAsync(room, "while bob is away " + i);
        }

        await using var bobAgain = await WsTestClient.ConnectAndHelloAsync(node.WsUri, bob.Token);
        Assert.Contains(bobAgain.All, f => f.Op() == "gap");
        Record(bobWs);
        Record(bobAgain);

        // Watermarks are private to each member: bob's view shows bob's reads, not alice's.
        await aliceWs.SendAsync(new { op = "read", conv = room, seq = 11 });
        await aliceWs.SeenAsync(f => f.Op() == "receipt" && f.Str("userId") == alice.UserId && f.Str("kind") == "read" && f.Long("seq") == 11);
        var bobsView = (await CallAsync(api, "GET /api/v1/conversations", HttpMethod.Get, "api/v1/conversations", null, bob.Token)).Body;
        var bobsRoom = bobsView.EnumerateArray().Single(v => v.Str("id") == room);
        Assert.Equal(1, bobsRoom.Long("readSeq"));
        Assert.Equal(10, bobsRoom.Long("unread"));
        await CallAsync(api, "GET /api/v1/conversations", HttpMethod.Get, "api/v1/conversations", null, alice.Token);
        await CallAsync(api, "GET /api/v1/conversations/{id}/messages", HttpMethod.Get, $"api/v1/conversations/{room}/messages?limit=3", null, alice.Token);
        await CallAsync(api, "GET /api/v1/conversations/{id}/messages", HttpMethod.Get, $"api/v1/conversations/{secret}/messages", null, bob.Token);
        await CallAsync(api, "GET /api/v1/conversations/{id}/messages", HttpMethod.Get, $"api/v1/conversations/{room}/messages?limit=999", null, alice.Token);
        await CallAsync(api, "GET /api/v1/conversations", HttpMethod.Get, "api/v1/conversations", null, "bad-token");
        await CallAsync(api, "POST /api/v1/rooms", HttpMethod.Post, "api/v1/rooms", new { name = new string('n', 70_000) }, alice.Token);
        await CallAsync(api, "GET /api/v1/stats", HttpMethod.Get, "api/v1/stats", null, null);
        await CallAsync(api, "GET /api/v1/(unknown)", HttpMethod.Get, "api/v1/nothing", null, alice.Token);
        await CallAsync(api, "GET /healthz", HttpMethod.Get, "healthz", null, null);
        await CallAsync(api, "GET /readyz", HttpMethod.Get, "readyz", null, null);
        await CallAsync(api, "GET /ws (no upgrade)", HttpMethod.Get, "ws", null, null);
        for (var i = 0; i < 11; i++)
        {
            await CallAsync(api, "POST /api/v1/auth/login", HttpMethod.Post, "api/v1/auth/login", new { username = carol.Username, password = "wrong password" });
        }

        Record(aliceWs);

        var expectedOps = new[] { "welcome", "synced", "msg", "ack", "error", "gap", "receipt", "typing", "presence", "member", "conversation", "pong" };
        Assert.All(expectedOps, op => Assert.Contains("[ws] " + op, _schema.Kinds));
        foreach (var status in new[] { 200, 201, 204, 400, 401, 403, 404, 409, 413, 429 })
        {
            Assert.Contains(_schema.Kinds, k => k.EndsWith($" {status}", StringComparison.Ordinal));
        }

        AssertNoSecrets(node, [alice, bob, carol]);
        await AssertSnapshotAsync(_schema.Render());
    }

    private void AssertNoSecrets(SecurityNode node, TestUser[] users)
    {
        var hashes = users.Select(u => node.Node.Store.FindUserByNameAsync(u.Username, CancellationToken.None).GetAwaiter().GetResult()!.PasswordHash).ToList();
        foreach (var (kind, text) in _outputs)
        {
            Assert.DoesNotContain(Password, text, StringComparison.Ordinal);
            Assert.DoesNotContain("wrong password", text, StringComparison.Ordinal);
            Assert.DoesNotContain(Key, text, StringComparison.Ordinal);
            Assert.DoesNotContain("pbkdf2", text, StringComparison.OrdinalIgnoreCase);
            foreach (var part in hashes.SelectMany(h => h.Split('$').Skip(2)))
            {
                Assert.DoesNotContain(part, text, StringComparison.Ordinal);
            }

            // Tokens (JWTs start with the base64 of '{"'): only in the register and login answers, and only the caller's own.
            if (kind is "POST /api/v1/auth/login 200" or "POST /api/v1/auth/register 201")
            {
                var answer = JsonDocument.Parse(text).RootElement;
                var token = answer.Str("token")!;
                Assert.Equal(answer.Str("userId"), Jwt.Payload(token).Str("sub"));
                Assert.DoesNotContain("eyJ", text.Replace(token, "", StringComparison.Ordinal), StringComparison.Ordinal);
            }
            else
            {
                Assert.DoesNotContain("eyJ", text, StringComparison.Ordinal);
            }
        }

        var forbidden = _schema.FieldNames.Where(n => n is "password" or "passwordHash" or "hash" or "salt" or "secret" or "key" or "jwtKey" or "email" or "ip" or "address").ToList();
        Assert.Empty(forbidden);
    }

    private async Task<TestUser> RegisterAsync(ApiClient api, string prefix)
    {
        var name = prefix + Guid.NewGuid().ToString("N")[..10];
        var answer = await CallAsync(api, "POST /api/v1/auth/register", HttpMethod.Post, "api/v1/auth/register", new { username = name, password = Password });
        Assert.Equal(HttpStatusCode.Created, answer.Status);
        return new TestUser(answer.Body.Str("userId")!, answer.Body.Str("username")!, answer.Body.Str("token")!);
    }

    private async Task<ApiAnswer> CallAsync(ApiClient api, string route, HttpMethod method, string path, object? body, string? token = null)
    {
        var answer = await api.CallAsync(method, path, body, token);
        var kind = $"[rest] {route} {(int)answer.Status}";
        if (answer.Body.ValueKind is JsonValueKind.Object or JsonValueKind.Array)
        {
            _schema.Add(kind, answer.Body);
            _outputs.Add((kind[7..], answer.Body.GetRawText()));
        }
        else
        {
            _schema.AddText(kind, answer.Body.ValueKind == JsonValueKind.Undefined ? "(empty)" : "text");
            _outputs.Add((kind[7..], answer.Body.ValueKind == JsonValueKind.Undefined ? "" : answer.Body.GetString() ?? ""));
        }

        return answer;
    }

    private void Record(WsTestClient ws)
    {
        foreach (var frame in ws.All)
        {
            var kind = "[ws] " + frame.Op();
            _schema.Add(kind, frame);
            _outputs.Add((kind, frame.GetRawText()));
        }
    }

    private static async Task AssertSnapshotAsync(string actual, [CallerFilePath] string source = "")
    {
        const string Header = "# Outbound schema snapshot (issue 7): every field of every REST answer and WebSocket frame kind, with its JSON types.\n" +
            "# Reviewed by hand. A difference is a protocol change: review it, then regenerate with PARLEY_UPDATE_SNAPSHOTS=1.\n";
        var file = Path.Combine(Path.GetDirectoryName(source)!, "Snapshots", "outbound-schema.txt");
        if (Environment.GetEnvironmentVariable("PARLEY_UPDATE_SNAPSHOTS") == "1")
        {
            await File.WriteAllTextAsync(file, Header + actual);
        }

        var expected = File.Exists(file) ? (await File.ReadAllTextAsync(file)).Replace(Header, "", StringComparison.Ordinal) : "(no snapshot yet)";
        if (expected != actual)
        {
            var received = Path.Combine(AppContext.BaseDirectory, "outbound-schema.received.txt");
            await File.WriteAllTextAsync(received, Header + actual);
            var expectedLines = expected.Split('\n').ToHashSet();
            var actualLines = actual.Split('\n').ToHashSet();
            Assert.Fail($"the outbound schema changed (written to {received}).\nnew:\n  {string.Join("\n  ", actualLines.Except(expectedLines))}\ngone:\n  {string.Join("\n  ", expectedLines.Except(actualLines))}");
        }
    }
}
