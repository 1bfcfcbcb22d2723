using System.Security.Cryptography;
using System.Text;
using Parley.Security.Tests.Support;
using Parley.Testing;

namespace Parley.Security.Tests;

/// <summary>A node with a known signing key and a clock the tests set.</summary>
public sealed class TokenNodeFixture : IAsyncLifetime
{
    /// <summary>The node's signing key (a test knows it, to forge tokens that differ from a good one in one way only).</summary>
    public const string KeyText = "token-tests-signing-key-0123456789-abcdefghij";

    /// <summary>The node's clock, frozen at a whole second.</summary>
    public ManualClock Clock { get; } = new(DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds()));

    public DateTimeOffset Start { get; private set; }

    public SecurityNode Node { get; private set; } = null!;

    public ApiClient Api { get; private set; } = null!;

    public TestUser User { get; private set; } = null!;

    public TestUser Victim { get; private set; } = null!;

    public static byte[] Key => Encoding.UTF8.GetBytes(KeyText);

    public async Task InitializeAsync()
    {
        Start = Clock.Now;
        Node = await SecurityNode.StartAsync(new Dictionary<string, string?> { ["JwtKey"] = KeyText, ["TokenLifetimeSeconds"] = "3600" }, new NodeSetup { Clock = Clock });
        Api = new ApiClient(Node.BaseUri);
        User = await Api.RegisterAsync("tok");
        Victim = await Api.RegisterAsync("victim");
    }

    public async Task DisposeAsync()
    {
        Api.Dispose();
        await Node.DisposeAsync();
    }
}

/// <summary>
/// RFC 8725 token handling: every forged, tampered, mis-addressed or out-of-time token is refused the same way on REST
/// (401) and on the WebSocket (<c>unauthorized</c>, close 4001); a correctly forged token is accepted, which proves each
/// refusal is caused by its one defect.
/// </summary>
[Trait("Tier", "Security")]
public sealed class TokenTests(TokenNodeFixture f) : IClassFixture<TokenNodeFixture>
{
    private static readonly byte[] OtherKey = RandomNumberGenerator.GetBytes(64);

    private static readonly Dictionary<string, Func<TokenNodeFixture, string>> Forged = new()
    {
        ["alg none"] = x => Jwt.Sign(Jwt.Header("none"), Claims(x), key: null),
        ["alg None"] = x => Jwt.Sign(Jwt.Header("None"), Claims(x), key: null),
        ["alg NONE with the signature of a good token"] = x => Jwt.WithHeader(Good(x), Jwt.Header("NONE")),
        ["no alg"] = x => Jwt.WithHeader(Good(x), new Dictionary<string, object?> { ["typ"] = "JWT" }),
        ["signed with another key"] = x => Jwt.Sign(Jwt.Header("HS256"), Claims(x), OtherKey),
        ["signed with an empty signature"] = x => Jwt.Sign(Jwt.Header("HS256"), Claims(x), key: null),
        ["HS512 with the right key (algorithm not allowed)"] = x => Jwt.Sign(Jwt.Header("HS512"), Claims(x), TokenNodeFixture.Key, "SHA512"),
        ["HS384 with the right key (algorithm not allowed)"] = x => Jwt.Sign(Jwt.Header("HS384"), Claims(x), TokenNodeFixture.Key, "SHA384"),
        ["RS256 header over an HMAC signature (key confusion)"] = x => Jwt.WithHeader(Good(x), Jwt.Header("RS256")),
        ["embedded jwk with the attacker's key"] = x => Jwt.Sign(
            new Dictionary<string, object?> { ["alg"] = "HS256", ["typ"] = "JWT", ["jwk"] = new Dictionary<string, string> { ["kty"] = "oct", ["k"] = System.Buffers.Text.Base64Url.EncodeToString(OtherKey) } },
            Claims(x),
            OtherKey),
        ["jku pointing elsewhere, attacker's key"] = x => Jwt.Sign(
            new Dictionary<string, object?> { ["alg"] = "HS256", ["typ"] = "JWT", ["jku"] = "https://evil.example/keys", ["kid"] = "evil" },
            Claims(x),
            OtherKey),
        ["tampered payload (sub swapped to another user)"] = x => Jwt.WithPayload(Good(x), With(Claims(x), "sub", x.Victim.UserId)),
        ["tampered payload (name changed)"] = x => Jwt.WithPayload(Good(x), With(Claims(x), "name", "admin")),
        ["tampered payload (exp extended)"] = x => Jwt.WithPayload(Good(x), With(Claims(x), "exp", x.Clock.Now.AddYears(5).ToUnixTimeSeconds())),
        ["signature bit flipped"] = x => FlipLastSignatureChar(Good(x)),
        ["wrong issuer"] = x => Signed(With(Claims(x), "iss", "evil")),
        ["no issuer"] = x => Signed(Without(Claims(x), "iss")),
        ["wrong audience"] = x => Signed(With(Claims(x), "aud", "some-other-api")),
        ["no audience"] = x => Signed(Without(Claims(x), "aud")),
        ["no expiry"] = x => Signed(Without(Claims(x), "exp")),
        ["expired 31 s ago (past the 30 s skew)"] = x => Signed(With(Claims(x), "exp", x.Clock.Now.AddSeconds(-31).ToUnixTimeSeconds())),
        ["expired an hour ago"] = x => Signed(With(Claims(x), "exp", x.Clock.Now.AddHours(-1).ToUnixTimeSeconds())),
        ["not valid for another 31 s"] = x => Signed(With(Claims(x), "nbf", x.Clock.Now.AddSeconds(31).ToUnixTimeSeconds())),
        ["sub that is not an id"] = x => Signed(With(Claims(x), "sub", "../../etc")),
        ["no sub"] = x => Signed(Without(Claims(x), "sub")),
        ["no name"] = x => Signed(Without(Claims(x), "name")),
        ["over 4 KiB"] = x => Signed(With(Claims(x), "pad", new string('p', 5000))),
        ["five parts (JWE shape)"] = x => Good(x) + ".AAAA.BBBB",
        ["two parts"] = x => string.Join('.', Good(x).Split('.')[..2]),
        ["garbage"] = _ => "not.a.token",
        ["whitespace inside"] = x => Good(x).Insert(10, " "),
    };

    public static TheoryData<string> Cases => [.. Forged.Keys];

    private static Dictionary<string, object?> Claims(TokenNodeFixture x) => Jwt.ValidClaims(x.User.UserId, x.User.Username, x.Clock.Now);

    private static string Good(TokenNodeFixture x) => Signed(Claims(x));

    private static string Signed(Dictionary<string, object?> claims) => Jwt.Sign(Jwt.Header("HS256"), claims, TokenNodeFixture.Key);

    private static Dictionary<string, object?> With(Dictionary<string, object?> claims, string name, object? value)
    {
        claims[name] = value;
        return claims;
    }

    private static Dictionary<string, object?> Without(Dictionary<string, object?> claims, string name)
    {
        claims.Remove(name);
        return claims;
    }

    private static string FlipLastSignatureChar(string token)
    {
        // The last base64url character of a 32-byte signature carries only 4 significant bits; flip one of the
        // second-to-last character instead, which always changes the decoded bytes.
        var i = token.Length - 2;
        var c = token[i] == 'A' ? 'B' : 'A';
        return token[..i] + c + token[(i + 1)..];
    }

    [Fact]
    public async Task A_correctly_forged_token_is_accepted_so_each_refusal_below_is_for_its_one_defect()
    {
        f.Clock.Now = f.Start;
        var token = Good(f);
        await Refusals.AssertRestAcceptedAsync(f.Api, token);
        await Refusals.AssertHelloAcceptedAsync(f.Node.WsUri, token, f.User.UserId);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task A_bad_token_is_refused_on_rest_and_websocket(string name)
    {
        f.Clock.Now = f.Start;
        var token = Forged[name](f);
        await Refusals.AssertRestRefusedAsync(f.Api, token);
        await Refusals.AssertHelloRefusedAsync(f.Node.WsUri, token);
    }

    [Theory]
    [InlineData(-29, true)]
    [InlineData(-31, false)]
    public async Task Expiry_allows_at_most_30_seconds_of_clock_skew(int expiresInSeconds, bool accepted)
    {
        f.Clock.Now = f.Start;
        var token = Signed(With(Claims(f), "exp", f.Start.AddSeconds(expiresInSeconds).ToUnixTimeSeconds()));
        await AssertAsync(token, accepted);
    }

    [Theory]
    [InlineData(29, true)]
    [InlineData(31, false)]
    public async Task Not_before_allows_at_most_30_seconds_of_clock_skew(int validInSeconds, bool accepted)
    {
        f.Clock.Now = f.Start;
        var token = Signed(With(Claims(f), "nbf", f.Start.AddSeconds(validInSeconds).ToUnixTimeSeconds()));
        await AssertAsync(token, accepted);
    }

    [Fact]
    public async Task A_token_issued_by_a_node_whose_clock_runs_60_seconds_ahead_is_accepted_at_once()
    {
        try
        {
            f.Clock.Now = f.Start.AddSeconds(60);
            var login = await f.Api.CallAsync(HttpMethod.Post, "api/v1/auth/login", new { username = f.User.Username, password = "correct horse battery" });
            var token = login.Body.Str("token")!;
            Assert.False(Jwt.Payload(token).TryGetProperty("nbf", out _), "issued tokens carry no nbf");
            f.Clock.Now = f.Start;
            await Refusals.AssertRestAcceptedAsync(f.Api, token);
        }
        finally
        {
            f.Clock.Now = f.Start;
        }
    }

    [Fact]
    public async Task A_token_the_server_issued_stops_working_30_seconds_after_its_expiry_by_the_servers_clock()
    {
        f.Clock.Now = f.Start;
        var login = await f.Api.CallAsync(HttpMethod.Post, "api/v1/auth/login", new { username = f.User.Username, password = "correct horse battery" });
        var token = login.Body.Str("token")!;
        var exp = DateTimeOffset.FromUnixTimeSeconds(Jwt.Payload(token).GetProperty("exp").GetInt64());
        Assert.Equal(f.Start.AddHours(1), exp);
        Assert.Equal(exp.ToUnixTimeMilliseconds(), login.Body.GetProperty("expiresAt").GetInt64());
        try
        {
            f.Clock.Now = exp.AddSeconds(29);
            await Refusals.AssertRestAcceptedAsync(f.Api, token);
            f.Clock.Now = exp.AddSeconds(31);
            await Refusals.AssertRestRefusedAsync(f.Api, token);
            await Refusals.AssertHelloRefusedAsync(f.Node.WsUri, token);
        }
        finally
        {
            f.Clock.Now = f.Start;
        }
    }

    [Fact]
    public async Task A_token_accepted_before_still_meets_every_time_check_and_its_altered_copies_are_checked_in_full()
    {
        // The node remembers the tokens it found valid; this proves what it remembers never replaces a check.
        f.Clock.Now = f.Start;
        var token = Signed(With(Claims(f), "nbf", f.Start.AddSeconds(20).ToUnixTimeSeconds()));
        await Refusals.AssertRestAcceptedAsync(f.Api, token);
        await Refusals.AssertHelloAcceptedAsync(f.Node.WsUri, token, f.User.UserId);
        try
        {
            foreach (var altered in new[] { FlipLastSignatureChar(token), Jwt.WithPayload(token, With(Jwt.ValidClaims(f.Victim.UserId, f.User.Username, f.Start), "nbf", f.Start.AddSeconds(20).ToUnixTimeSeconds())) })
            {
                await Refusals.AssertRestRefusedAsync(f.Api, altered);
                await Refusals.AssertHelloRefusedAsync(f.Node.WsUri, altered);
            }

            // Not yet valid by more than the skew (the clock set back), then past its expiry by more than the skew.
            f.Clock.Now = f.Start.AddSeconds(-11);
            await Refusals.AssertRestRefusedAsync(f.Api, token);
            await Refusals.AssertHelloRefusedAsync(f.Node.WsUri, token);
            f.Clock.Now = f.Start.AddHours(1).AddSeconds(31);
            await Refusals.AssertRestRefusedAsync(f.Api, token);
            await Refusals.AssertHelloRefusedAsync(f.Node.WsUri, token);
            f.Clock.Now = f.Start.AddHours(1).AddSeconds(29);
            await Refusals.AssertRestAcceptedAsync(f.Api, token);
        }
        finally
        {
            f.Clock.Now = f.Start;
        }
    }

    [Theory]
    [InlineData("Basic {0}")]
    [InlineData("Bearer")]
    [InlineData("Token {0}")]
    [InlineData("{0}")]
    public async Task Only_a_bearer_authorization_header_is_read(string format)
    {
        f.Clock.Now = f.Start;
        using var http = new HttpClient { BaseAddress = f.Node.BaseUri };
        using var request = new HttpRequestMessage(HttpMethod.Get, "api/v1/conversations");
        request.Headers.TryAddWithoutValidation("Authorization", string.Format(System.Globalization.CultureInfo.InvariantCulture, format, Good(f)));
        using var response = await http.SendAsync(request);
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task A_token_is_never_accepted_in_the_websocket_url()
    {
        f.Clock.Now = f.Start;
        var token = Good(f);
        await using var client = await WsTestClient.ConnectAsync(new Uri(f.Node.WsUri + "?token=" + token + "&access_token=" + token));
        Assert.Equal(4001, await client.WaitClosedAsync(TimeSpan.FromSeconds(10)));
        Assert.DoesNotContain(client.All, x => x.Op() == "welcome");
    }

    private async Task AssertAsync(string token, bool accepted)
    {
        if (accepted)
        {
            await Refusals.AssertRestAcceptedAsync(f.Api, token);
            await Refusals.AssertHelloAcceptedAsync(f.Node.WsUri, token, f.User.UserId);
        }
        else
        {
            await Refusals.AssertRestRefusedAsync(f.Api, token);
            await Refusals.AssertHelloRefusedAsync(f.Node.WsUri, token);
        }
    }
}
