namespace Parley.Server.Hosting;

/// <summary>Security headers on every answer: a strict Content-Security-Policy (no inline scripts) and friends; HSTS over TLS.</summary>
internal static class SecurityHeaders
{
    public const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; " +
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

    public static IApplicationBuilder UseParleySecurityHeaders(this IApplicationBuilder app) =>
        app.Use((ctx, next) =>
        {
            var headers = ctx.Response.Headers;
            headers.ContentSecurityPolicy = ContentSecurityPolicy;
            headers.XContentTypeOptions = "nosniff";
            headers["Referrer-Policy"] = "no-referrer";
            headers.XFrameOptions = "DENY";
            if (ctx.Request.IsHttps)
            {
                // Only over TLS (RFC 6797 §7.2); behind a TLS proxy, IsHttps comes from X-Forwarded-Proto of a trusted proxy.
                headers.StrictTransportSecurity = "max-age=31536000";
            }

            return next(ctx);
        });
}
