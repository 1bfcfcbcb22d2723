using System.Globalization;
using Parley.Testing;

namespace Parley.Cluster.Tests;

/// <summary>The deployment files are valid: the compose file for docker compose, the nginx template for nginx.</summary>
[Trait("Tier", "Cluster")]
public sealed class DeployFilesTests
{
    private const string JwtKey = "a-test-key-of-at-least-32-characters-0123";
    private static readonly string ComposeFile = Path.Combine(RepositoryRoot.Path, "deploy", "docker-compose.yml");

    [Fact]
    public async Task The_compose_file_validates_with_three_nodes_behind_nginx_and_one_shared_jwt_key()
    {
        var (exit, stdout, stderr) = await ComposeConfigAsync(JwtKey);
        Assert.True(exit == 0, $"compose config failed ({exit}): {stderr}");
        foreach (var service in new[] { "node1:", "node2:", "node3:", "nginx:", "postgres:", "rabbitmq:", "redis:" })
        {
            Assert.Contains("  " + service, stdout, StringComparison.Ordinal);
        }

        Assert.Equal(7, CountOf(stdout, "healthcheck:"));
        Assert.Equal(3, CountOf(stdout, "Parley__JwtKey: " + JwtKey));
        Assert.Equal(3, CountOf(stdout, "dockerfile: deploy/Dockerfile"));
        Assert.True(File.Exists(Path.Combine(RepositoryRoot.Path, "deploy", "Dockerfile")));
    }

    [Fact]
    public async Task The_compose_file_refuses_to_start_without_a_jwt_key_from_the_environment()
    {
        var (exit, _, stderr) = await ComposeConfigAsync(null);
        Assert.NotEqual(0, exit);
        Assert.Contains("PARLEY_JWT_KEY", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_nginx_template_renders_to_a_config_nginx_accepts()
    {
        var dir = TestPorts.NewTempDir("nginx-t");
        try
        {
            Directory.CreateDirectory(Path.Combine(dir, "tmp"));
            var config = await NginxServer.RenderAsync("127.0.0.1:" + TestPorts.GetFree().ToString(CultureInfo.InvariantCulture), dir, ["127.0.0.1:5001", "127.0.0.1:5002", "127.0.0.1:5003"]);
            Assert.Contains("least_conn;", config, StringComparison.Ordinal);
            Assert.Equal(3, CountOf(config, "server 127.0.0.1:500"));
            Assert.Contains("proxy_next_upstream error timeout;", config, StringComparison.Ordinal);
            Assert.DoesNotContain("${", config, StringComparison.Ordinal);
            var file = Path.Combine(dir, "nginx.conf");
            await File.WriteAllTextAsync(file, config);
            var (exit, stdout, stderr) = await ToolRunner.RunAsync(NginxServer.FindBinary(), ["-t", "-p", dir, "-c", file], TimeSpan.FromSeconds(15));
            Assert.True(exit == 0, $"nginx -t: {stdout}{stderr}");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>`docker compose config` where the plugin exists, else Debian's docker-compose; neither is a failure.</summary>
    private static async Task<(int, string, string)> ComposeConfigAsync(string? jwtKey)
    {
        var env = new Dictionary<string, string?> { ["PARLEY_JWT_KEY"] = jwtKey };
        if (File.Exists("/usr/bin/docker") || File.Exists("/usr/local/bin/docker"))
        {
            var plugin = await ToolRunner.RunAsync("docker", ["compose", "version"], TimeSpan.FromSeconds(30));
            if (plugin.ExitCode == 0)
            {
                return await ToolRunner.RunAsync("docker", ["compose", "-f", ComposeFile, "config"], TimeSpan.FromSeconds(60), env);
            }
        }

        var standalone = new[] { "/usr/bin/docker-compose", "/usr/local/bin/docker-compose" }.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("neither `docker compose` nor docker-compose is installed (eng/install-deps.sh installs docker-compose)");
        return await ToolRunner.RunAsync(standalone, ["-f", ComposeFile, "config"], TimeSpan.FromSeconds(60), env);
    }

    private static int CountOf(string text, string part)
    {
        var count = 0;
        for (var i = text.IndexOf(part, StringComparison.Ordinal); i >= 0; i = text.IndexOf(part, i + part.Length, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }
}
