Console.WriteLine("parley");
