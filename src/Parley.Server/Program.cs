using Parley.Server.Hosting;

ParleyServer.Build(args).Run();
