using System.Net;
using Parley.Testing;

namespace Parley.Server.Tests;

[Trait("Tier", "Server")]
public sealed class AuthTests(NodeFixture node) : IClassFixture<NodeFixture>
{
    private ApiClient Api => node.Api;

    [Fact]
    public async Task Register_folds_the_username_to_lower_case_and_refuses_a_taken_name()
    {
        var name = "Alice" + Guid.NewGuid().ToString("N")[..8];
        var first = await Api.CallAsync(HttpMethod.Post, "api/v1/auth/register", new { username = name, password = "password123" });
        Assert.Equal(HttpStatusCode.Created, first.Status);
        Assert.Equal(name.ToLowerInvariant(), first.Body.Str("username"));
        Assert.True(first.Body.GetProperty("expiresAt").GetInt64() > DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        Assert.False(string.IsNullOrEmpty(first.Body.Str("token")));

        var again = await Api.CallAsync(HttpMethod.Post, "api/v1/auth/register", new { username = name.ToUpperInvariant(), password = "password123" });
        Assert.Equal(HttpStatusCode.Conflict, again.Status);
        Assert.Equal("conflict", again.ErrorCode);
    }

    [Theory]
    [InlineData("ab", "password123")]
    [InlineData("has space", "password123")]
    [InlineData("bad<name>", "password123")]
    [InlineData("abcdefghijklmnopqrstuvwxyz0123456789", "password123")]
    [InlineData("okname", "short")]
    public async Task Register_refuses_invalid_usernames_and_passwords(string username, string password)
    {
        var answer = await Api.CallAsync(HttpMethod.Post, "api/v1/auth/register", new { username, password });
        Assert.Equal(HttpStatusCode.BadRequest, answer.Status);
        Assert.Equal("invalid", answer.ErrorCode);
    }

    [Fact]
    public async Task Register_refuses_a_password_over_256_characters()
    {
        var answer = await Api.CallAsync(HttpMethod.Post, "api/v1/auth/register", new { username = "long" + Guid.NewGuid().ToString("N")[..8], password = new string('x', 257) });
        Assert.Equal("invalid", answer.ErrorCode);
    }

    [Fact]
    public async Task Password_lengths_are_measured_in_characters_so_an_emoji_counts_once()
    {
        string Name() => "emo" + Guid.NewGuid().ToString("N")[..8];
        string Emoji(int n) => string.Concat(Enumerable.Repeat("🔑", n));

        // 7 emoji are 14 UTF-16 units but 7 characters: too short. 256 emoji fit; 257 do not.
        var tooShort = await Api.CallAsync(HttpMethod.Post, "api/v1/auth/register", new { username = Name(), password = Emoji(7) });
        Assert.Equal("invalid", tooShort.ErrorCode);
        var tooLong = await Api.CallAsync(HttpMethod.Post, "api/v1/auth/register", new { username = Name(), password = Emoji(257) });
        Assert.Equal("invalid", tooLong.ErrorCode);

        var name = Name();
        var longest = await Api.CallAsync(HttpMethod.Post, "api/v1/auth/register", new { username = name, password = Emoji(256) });
        Assert.Equal(HttpStatusCode.Created, longest.Status);
        var login = await Api.CallAsync(HttpMethod.Post, "api/v1/auth/login", new { username = name, password = Emoji(256) });
        Assert.Equal(HttpStatusCode.OK, login.Status);
    }

    [Fact]
    public async Task A_password_with_an_unpaired_surrogate_is_refused_and_never_hashed_as_a_replacement_character()
    {
        // UTF-8 cannot hold "\uD800": hashed, it would become U+FFFD, and any other lone surrogate would log in too.
        // The JSON reader already refuses one in a REST body; the password rule refuses it on any other path.
        Assert.False(Parley.Protocol.ProtocolRules.IsValidPassword("abcdefg\uD800"));
        Assert.False(Parley.Protocol.ProtocolRules.IsValidPassword("\uDFFFabcdefgh"));
        Assert.True(Parley.Protocol.ProtocolRules.IsValidPassword("abcdefg\uFFFD"));
        Assert.True(Parley.Protocol.ProtocolRules.IsValidPassword("abcdefg\uD83D\uDD11"));

        var name = "sur" + Guid.NewGuid().ToString("N")[..8];
        var lone = await Api.CallAsync(HttpMethod.Post, "api/v1/auth/register", rawBody: $$"""{"username":"{{name}}","password":"abcdefg\uD800"}""");
        Assert.Equal("invalid", lone.ErrorCode);
        var replacement = await Api.CallAsync(HttpMethod.Post, "api/v1/auth/register", rawBody: $$"""{"username":"{{name}}","password":"abcdefg\uFFFD"}""");
        Assert.Equal(HttpStatusCode.Created, replacement.Status);
        var other = await Api.CallAsync(HttpMethod.Post, "api/v1/auth/login", rawBody: $$"""{"username":"{{name}}","password":"abcdefg\uDFFF"}""");
        Assert.NotEqual(HttpStatusCode.OK, other.Status);
        var right = await Api.CallAsync(HttpMethod.Post, "api/v1/auth/login", rawBody: $$"""{"username":"{{name}}","password":"abcdefg\uFFFD"}""");
        Assert.Equal(HttpStatusCode.OK, right.Status);
    }

    [Fact]
    public async Task Login_answers_401_the_same_way_for_a_wrong_password_and_an_unknown_user()
    {
        var user = await Api.RegisterAsync("login");
        var ok = await Api.CallAsync(HttpMethod.Post, "api/v1/auth/login", new { username = user.Username.ToUpperInvariant(), password = "correct horse battery" });
        Assert.Equal(HttpStatusCode.OK, ok.Status);
        Assert.Equal(user.UserId, ok.Body.Str("userId"));

        var wrong = await Api.CallAsync(HttpMethod.Post, "api/v1/auth/login", new { username = user.Username, password = "wrong password" });
        var unknown = await Api.CallAsync(HttpMethod.Post, "api/v1/auth/login", new { username = "nobody" + Guid.NewGuid().ToString("N")[..8], password = "wrong password" });
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.Status);
        Assert.Equal(HttpStatusCode.Unauthorized, unknown.Status);
        Assert.Equal(wrong.Body.GetProperty("error").ToString(), unknown.Body.GetProperty("error").ToString());
    }

    [Fact]
    public async Task Repeated_failed_logins_are_throttled_with_429()
    {
        var user = await Api.RegisterAsync("throttle");
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 12; i++)
        {
            statuses.Add((await Api.CallAsync(HttpMethod.Post, "api/v1/auth/login", new { username = user.Username, password = "wrong password" })).Status);
        }

        Assert.Equal(HttpStatusCode.Unauthorized, statuses[0]);
        Assert.Equal(HttpStatusCode.TooManyRequests, statuses[^1]);
        var correct = await Api.CallAsync(HttpMethod.Post, "api/v1/auth/login", new { username = user.Username, password = "correct horse battery" });
        Assert.Equal(HttpStatusCode.TooManyRequests, correct.Status);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("not-a-token")]
    [InlineData("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")]
    public async Task Rest_calls_without_a_valid_token_get_401(string? token)
    {
        var answer = await Api.CallAsync(HttpMethod.Get, "api/v1/conversations", token: token);
        Assert.Equal(HttpStatusCode.Unauthorized, answer.Status);
        Assert.Equal("unauthorized", answer.ErrorCode);
    }

    [Fact]
    public async Task A_bad_token_in_hello_gets_unauthorized_then_close_4001()
    {
        await using var ws = await WsTestClient.ConnectAsync(node.Server.WsUri);
        await ws.SendAsync(new { op = "hello", token = "garbage" });
        var error = await ws.WaitForOpAsync("error");
        Assert.Equal("unauthorized", error.Str("code"));
        Assert.Equal(4001, await ws.WaitClosedAsync());
    }

    [Fact]
    public async Task No_hello_within_5_seconds_closes_with_4001()
    {
        await using var ws = await WsTestClient.ConnectAsync(node.Server.WsUri);
        var started = DateTime.UtcNow;
        Assert.Equal(4001, await ws.WaitClosedAsync(TimeSpan.FromSeconds(10)));
        Assert.InRange(DateTime.UtcNow - started, TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(9));
    }

    [Fact]
    public async Task Welcome_names_the_user_and_the_node()
    {
        var user = await Api.RegisterAsync("welcome");
        await using var ws = await node.HelloAsync(user);
        var welcome = ws.All.First(f => f.Op() == "welcome");
        Assert.Equal(user.UserId, welcome.Str("userId"));
        Assert.Equal(user.Username, welcome.Str("username"));
        Assert.Equal(node.Server.Node.Options.NodeId, welcome.Str("node"));
        Assert.True(welcome.Long("heartbeatMs") > 0);
        Assert.Equal("synced", ws.All[^1].Op());
    }

    [Fact]
    public async Task A_cross_origin_upgrade_is_refused_and_same_origin_is_accepted()
    {
        var refused = await Assert.ThrowsAsync<System.Net.WebSockets.WebSocketException>(() => WsTestClient.ConnectAsync(node.Server.WsUri, origin: "https://evil.example"));
        Assert.Contains("403", refused.Message, StringComparison.Ordinal);
        var origin = node.Server.BaseUri.GetLeftPart(UriPartial.Authority);
        await using var same = await WsTestClient.ConnectAsync(node.Server.WsUri, origin: origin);
        Assert.Equal(System.Net.WebSockets.WebSocketState.Open, same.Socket.State);
    }
}
