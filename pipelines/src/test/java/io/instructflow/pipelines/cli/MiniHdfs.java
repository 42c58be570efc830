package io.instructflow.pipelines.cli;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hdfs.MiniDFSCluster;

/**
 * A real HDFS in one JVM (Hadoop's MiniDFSCluster: a name node and one data node on this machine) for
 * {@code bin/cluster-test} (issue 23 item 5), run with the test class path. Writes the name node's
 * {@code hdfs://} URI to a file once the cluster is up, then serves until the process is stopped (a
 * shutdown hook stops the cluster).
 *
 * <p>Usage: {@code MiniHdfs BASE_DIR URI_FILE}
 */
public final class MiniHdfs {
  private MiniHdfs() {}

  public static void main(String[] args) throws Exception {
    if (args.length != 2) {
      System.err.println("usage: MiniHdfs BASE_DIR URI_FILE");
      System.exit(2);
    }
    Configuration conf = new Configuration();
    conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, Paths.get(args[0]).toAbsolutePath().toString());
    MiniDFSCluster cluster = new MiniDFSCluster.Builder(conf).numDataNodes(1).build();
    cluster.waitActive();
    Runtime.getRuntime().addShutdownHook(new Thread(cluster::shutdown, "mini-hdfs-stop"));
    // written whole, then moved: a reader never sees half a URI
    Path out = Paths.get(args[1]);
    Path tmp = out.resolveSibling(out.getFileName() + ".tmp");
    Files.writeString(tmp, cluster.getURI().toString() + "\n", StandardCharsets.UTF_8);
    Files.move(tmp, out, StandardCopyOption.ATOMIC_MOVE);
    System.out.println("MiniHdfs: serving " + cluster.getURI());
    Thread.currentThread().join();
  }
}
