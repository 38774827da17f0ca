package dev.jarvis.neo4j;

import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;

import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.GraphDatabaseService;
import org.neo4j.io.ByteUnit;

/**
 * Runs Neo4j Community embedded with its Bolt connector, as Neo4j documents for embedded use.
 *
 * <p>Maven Central carries the embedded artifacts but not the server distribution, so the
 * local stack runs this instead of {@code bin/neo4j}. Clients speak Bolt to it exactly as they
 * would to a server. Auth is on: the password comes from the environment variable
 * {@code NEO4J_PASSWORD} (never from the command line, where {@code ps} would show it).
 *
 * <p>Usage: {@code java dev.jarvis.neo4j.Launcher DATA_DIR PORT [HOST]}
 */
public final class Launcher {
    private static final String USER = "neo4j";

    private Launcher() {}

    public static void main(String[] args) throws InterruptedException {
        if (args.length < 2) {
            System.err.println("usage: Launcher DATA_DIR PORT [HOST]");
            System.exit(2);
        }
        Path home = Path.of(args[0]).toAbsolutePath();
        int port = Integer.parseInt(args[1]);
        String host = args.length > 2 ? args[2] : "127.0.0.1";
        String password = System.getenv("NEO4J_PASSWORD");
        if (password == null || password.length() < 8) {
            System.err.println("NEO4J_PASSWORD must be set to at least 8 characters");
            System.exit(2);
        }

        DatabaseManagementService service = new DatabaseManagementServiceBuilder(home)
                .setConfig(BoltConnector.enabled, true)
                .setConfig(BoltConnector.listen_address, new SocketAddress(host, port))
                .setConfig(HttpConnector.enabled, false)
                .setConfig(GraphDatabaseSettings.auth_enabled, true)
                .setConfig(GraphDatabaseSettings.pagecache_memory, ByteUnit.mebiBytes(256))
                .setConfig(GraphDatabaseSettings.transaction_timeout, Duration.ofSeconds(120))
                .build();

        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            service.shutdown();
            stopped.countDown();
        }, "neo4j-shutdown"));

        setPassword(service.database(GraphDatabaseSettings.SYSTEM_DATABASE_NAME), password);
        System.out.println("jarvis-neo4j ready bolt://" + host + ":" + port);
        System.out.flush();
        stopped.await();
    }

    /**
     * Sets the built-in user's password on every start, so the password in the environment is
     * always the one that works, and no "change required" prompt blocks drivers. Embedded
     * transactions run with full privileges, which is what lets this run before any login.
     */
    private static void setPassword(GraphDatabaseService system, String password) {
        system.executeTransactionally(
                "ALTER USER " + USER + " SET PASSWORD $password CHANGE NOT REQUIRED",
                java.util.Map.of("password", password));
    }
}
