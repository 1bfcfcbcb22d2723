using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Parley.Security.Tests.Support;

/// <summary>A self-signed server certificate for 127.0.0.1 and localhost, written as PFX (Kestrel) and PEM (nginx).</summary>
public sealed class TestCertificate : IDisposable
{
    private TestCertificate(X509Certificate2 certificate, string folder, string password)
    {
        Certificate = certificate;
        Folder = folder;
        Password = password;
    }

    /// <summary>The certificate (with its private key).</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>Where its files are.</summary>
    public string Folder { get; }

    /// <summary>The PFX password.</summary>
    public string Password { get; }

    /// <summary>PKCS#12 file with the key, for Kestrel.</summary>
    public string PfxPath => Path.Combine(Folder, "server.pfx");

    /// <summary>PEM certificate, for nginx.</summary>
    public string CertPemPath => Path.Combine(Folder, "fullchain.pem");

    /// <summary>PEM private key, for nginx.</summary>
    public string KeyPemPath => Path.Combine(Folder, "privkey.pem");

    /// <summary>Creates the certificate and its files in <paramref name="folder"/>.</summary>
    public static TestCertificate Create(string folder)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=parley-test", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        var now = DateTimeOffset.UtcNow;
        var certificate = request.CreateSelfSigned(now.AddDays(-1), now.AddDays(2));
        var password = Convert.ToHexString(RandomNumberGenerator.GetBytes(12));
        var created = new TestCertificate(certificate, folder, password);
        File.WriteAllBytes(created.PfxPath, certificate.Export(X509ContentType.Pfx, password));
        File.WriteAllText(created.CertPemPath, certificate.ExportCertificatePem());
        File.WriteAllText(created.KeyPemPath, key.ExportPkcs8PrivateKeyPem());
        return created;
    }

    /// <summary>Accepts exactly this certificate (pinned by thumbprint): the chain is self-signed, the check is not skipped.</summary>
    public bool Validate(object? sender, X509Certificate? presented, X509Chain? chain, SslPolicyErrors errors) =>
        presented is not null && presented.GetCertHashString() == Certificate.GetCertHashString();

    /// <summary>An HttpClient that trusts only this certificate.</summary>
    public HttpClient Client(Uri baseUri) => new(new SocketsHttpHandler { SslOptions = { RemoteCertificateValidationCallback = Validate } }) { BaseAddress = baseUri, Timeout = TimeSpan.FromSeconds(30) };

    /// <inheritdoc />
    public void Dispose() => Certificate.Dispose();
}
