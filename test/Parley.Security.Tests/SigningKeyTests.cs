using System.Text;
using Microsoft.Extensions.Logging;
using Parley.Security.Tests.Support;
using Parley.Testing;

namespace Parley.Security.Tests;

/// <summary>The JWT signing key: required and long enough in a cluster (start-up fails otherwise), private on disk, never logged.</summary>
[Trait("Tier", "Security")]
public sealed class SigningKeyTests
{
    // Unreachable backends: the key check must fail start-up before any connection is tried.
    private static Dictionary<string, string?> Cluster(string what) => what switch
    {
        "store" => new() { ["Store"] = "postgres", ["Postgres"] = "Host=127.0.0.1;Port=1;Username=x;Timeout=1" },
        "bus" => new() { ["Bus"] = "rabbitmq", ["RabbitMq"] = "amqp://guest:guest@127.0.0.1:1/" },
        _ => throw new ArgumentOutOfRangeException(nameof(what)),
    };

    [Theory]
    [InlineData("store")]
    [InlineData("bus")]
    public async Task Cluster_mode_without_a_configured_key_fails_at_start_up(string what)
    {
        var e = await Assert.ThrowsAnyAsync<Exception>(() => StartAndStopAsync(Cluster(what)));
        Assert.Contains("Parley:JwtKey", Messages(e), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("store")]
    [InlineData("bus")]
    public async Task Cluster_mode_with_a_key_under_32_characters_fails_at_start_up_without_echoing_it(string what)
    {
        const string ShortKey = "short-key-of-thirty-one-chars!!";
        Assert.Equal(31, ShortKey.Length);
        var settings = Cluster(what);
        settings["JwtKey"] = ShortKey;
        var e = await Assert.ThrowsAnyAsync<Exception>(() => StartAndStopAsync(settings));
        Assert.Contains("Parley:JwtKey", Messages(e), StringComparison.Ordinal);
        Assert.DoesNotContain(ShortKey, Messages(e), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_configured_key_under_32_characters_is_refused_on_a_single_node_too()
    {
        var e = await Assert.ThrowsAnyAsync<Exception>(() => StartAndStopAsync(new() { ["JwtKey"] = new string('k', 31) }));
        Assert.Contains("Parley:JwtKey", Messages(e), StringComparison.Ordinal);
        await using var node = await SecurityNode.StartAsync(new Dictionary<string, string?> { ["JwtKey"] = new string('k', 32) });
        using var api = new ApiClient(node.BaseUri);
        Assert.False(string.IsNullOrEmpty((await api.RegisterAsync("keyok")).Token));
    }

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task A_generated_single_node_key_is_64_random_bytes_readable_by_the_owner_only_and_survives_a_restart()
    {
        var folder = TestPorts.NewTempDir("key");
        try
        {
            var settings = new Dictionary<string, string?> { ["SqlitePath"] = Path.Combine(folder, "parley.db") };
            string token;
            await using (var first = await SecurityNode.StartAsync(settings))
            {
                using var api = new ApiClient(first.BaseUri);
                token = (await api.RegisterAsync("keep")).Token;
            }

            var file = Path.Combine(folder, "jwt.key");
            Assert.Equal(64, Convert.FromBase64String(File.ReadAllText(file).Trim()).Length);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));

            await using var second = await SecurityNode.StartAsync(settings);
            using var again = new ApiClient(second.BaseUri);
            await Refusals.AssertRestAcceptedAsync(again, token);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task The_key_never_appears_in_the_logs_even_at_trace_level()
    {
        const string Key = "never-log-me-4f1c0d9e-signing-key-value-xyz";
        await using var node = await SecurityNode.StartAsync(new Dictionary<string, string?> { ["JwtKey"] = Key }, new NodeSetup { LogLevel = LogLevel.Trace });
        using var api = new ApiClient(node.BaseUri);
        var user = await api.RegisterAsync("logs");
        await api.CallAsync(HttpMethod.Post, "api/v1/auth/login", new { username = user.Username, password = "wrong password" });
        await api.CallAsync(HttpMethod.Get, "api/v1/conversations", token: user.Token + "x");
        await using (var ws = await WsTestClient.ConnectAndHelloAsync(node.WsUri, user.Token))
        {
            await ws.SendAsync(new { op = "ping" });
            await ws.WaitForOpAsync("pong");
        }

        await Refusals.AssertHelloRefusedAsync(node.WsUri, Jwt.Sign(Jwt.Header("HS256"), Jwt.ValidClaims(user.UserId, user.Username, DateTimeOffset.UtcNow), Encoding.UTF8.GetBytes("x")));

        var logs = node.Logs.AllText;
        Assert.NotEmpty(node.Logs.Entries);
        Assert.DoesNotContain(Key, logs, StringComparison.Ordinal);
        Assert.DoesNotContain(Convert.ToBase64String(Encoding.UTF8.GetBytes(Key)), logs, StringComparison.Ordinal);
        Assert.DoesNotContain(user.Token, logs, StringComparison.Ordinal);
        Assert.DoesNotContain("correct horse battery", logs, StringComparison.Ordinal);
    }

    private static async Task StartAndStopAsync(Dictionary<string, string?> settings)
    {
        await using var node = await SecurityNode.StartAsync(settings);
    }

    private static string Messages(Exception e)
    {
        var all = new StringBuilder();
        for (Exception? x = e; x is not null; x = x.InnerException)
        {
            all.AppendLine(x.Message);
        }

        return all.ToString();
    }
}
