using System.Globalization;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Parley.Server.Api;
using Parley.Server.Auth;
using Parley.Server.WebSockets;

namespace Parley.Server.Hosting;

/// <summary>Builds a Parley node's web host from arguments and configuration (used by Program and by tests).</summary>
public static class ParleyServer
{
    /// <summary>The listen address when none is configured.</summary>
    public const string DefaultUrl = "http://localhost:5080";

    /// <summary>Builds the application; <paramref name="configure"/> may add configuration or services (tests).</summary>
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory, WebRootPath = Path.Combine(AppContext.BaseDirectory, "wwwroot") });
        if (string.IsNullOrEmpty(builder.Configuration["urls"]))
        {
            builder.WebHost.UseUrls(DefaultUrl);
        }

        // The slim builder leaves out Kestrel's HTTPS configuration; without it `--urls https://…` with
        // Kestrel:Certificates:Default fails at start-up (docs/security.md, TLS).
        builder.WebHost.UseKestrelHttpsConfiguration();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = ApiErrors.MaxBodyBytes;
            k.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(10);
        });
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        configure?.Invoke(builder);

        var section = builder.Configuration.GetSection("Parley");
        var settings = new ServerSettings();
        section.Bind(settings);
        var options = new ParleyOptions();
        section.Bind(options);
        if (string.IsNullOrWhiteSpace(options.NodeId))
        {
            options.NodeId = DefaultNodeId(builder.Configuration["urls"] ?? DefaultUrl);
        }

        if (!Protocol.ProtocolRules.IsValidId(options.NodeId))
        {
            throw new InvalidOperationException("Parley:NodeId must be 1-64 characters of [A-Za-z0-9_-]");
        }

        // Resolved now, not on the first request: a cluster node without a proper shared key must fail to start.
        var jwtKey = JwtKeys.Resolve(settings);

        var services = builder.Services;
        services.AddSingleton(settings);
        services.AddSingleton(options);
        // A clock registered by `configure` (tests) wins.
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(sp =>
        {
            var logs = sp.GetRequiredService<ILoggerFactory>();
            return new ParleyNode(
                Backends.CreateStore(settings),
                Backends.CreateBus(settings, options.NodeId, logs),
                Backends.CreatePresence(settings, logs),
                options,
                logs);
        });
        services.AddSingleton(sp => new TokenService(jwtKey, TimeSpan.FromSeconds(options.TokenLifetimeSeconds), sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton(_ => new PasswordHasher(settings.PasswordIterations, settings.PasswordHashConcurrency));
        services.AddSingleton(sp => new AttemptThrottle(settings.LoginFailuresPerAccount, settings.LoginFailuresPerAddress, TimeSpan.FromSeconds(settings.LoginWindowSeconds), sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton(sp => new AccountService(
            sp.GetRequiredService<ParleyNode>().Store,
            sp.GetRequiredService<PasswordHasher>(),
            sp.GetRequiredService<TokenService>(),
            sp.GetRequiredService<AttemptThrottle>(),
            settings.RegistrationsPerAddress > 0
                ? new AttemptThrottle(int.MaxValue, settings.RegistrationsPerAddress, TimeSpan.FromSeconds(settings.LoginWindowSeconds), sp.GetRequiredService<TimeProvider>())
                : null));
        services.AddSingleton(_ => new OriginPolicy(settings.AllowedOrigins));
        services.AddHostedService<NodeLifetime>();
        services.AddSingleton<KeepAlive>();
        services.AddSingleton<WebSocketHost>();
        // TCP endpoints: WebSocket upgrades of /ws are taken before Kestrel (docs/architecture.md); all else is Kestrel's.
        DirectListenerFactory.Use(services);
        services.AddHostedService(sp => sp.GetRequiredService<KeepAlive>());
        services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(settings.DrainSeconds + 10));

        var app = builder.Build();
        app.UseParleyForwardedHeaders(settings);
        app.UseParleySecurityHeaders();
        app.UseDefaultFiles();
        app.UseStaticFiles();
        app.MapParleyApi();
        app.MapParleyWebSocket();
        if (settings.DiagnosticsEndpoint)
        {
            app.MapParleyDiagnostics();
        }
        return app;
    }

    private static string DefaultNodeId(string urls)
    {
        var first = urls.Split(';', StringSplitOptions.RemoveEmptyEntries)[0].Replace("*", "localhost", StringComparison.Ordinal).Replace("+", "localhost", StringComparison.Ordinal);
        var port = Uri.TryCreate(first, UriKind.Absolute, out var uri) ? uri.Port : 0;
        var host = new string(Environment.MachineName.Where(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_').ToArray());
        var suffix = port > 0 ? port.ToString(CultureInfo.InvariantCulture) : Ids.New("", 6);
        return $"{(host.Length == 0 ? "node" : host[..Math.Min(host.Length, 40)])}-{suffix}";
    }
}
