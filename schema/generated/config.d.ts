/* Generated from schema/config.schema.json by scripts/gen-schema.ts (npm run gen). Do not edit. */

/**
 * regctl registry configuration
 */
export interface RegctlConfiguration {
  /**
   * Path or URL of config.schema.json, for editors
   */
  $schema?: string;
  /**
   * Where blobs live; default: one file store "default" at ./data
   */
  blobStores?: (
    | {
        /**
         * A name, unique in its list
         */
        name: string;
        type: 'file';
        /**
         * Folder holding the blobs; relative paths are resolved against the config file
         */
        path: string;
        /**
         * This store's upload timeout; default: the top-level uploadTimeout ('1h')
         */
        uploadTimeout?: number | string;
        /**
         * Cap on the total bytes of uploads in progress on this store; an append that would pass it is refused (429, retryable). Absent: no cap
         */
        maxUploadBytes?: number | string;
      }
    | {
        /**
         * A name, unique in its list
         */
        name: string;
        type: 's3';
        /**
         * Bucket name, literal or { env }
         */
        bucket:
          | string
          | {
              /**
               * Name of the environment variable holding the secret, e.g. "CI_PASSWORD"
               */
              env: string;
            };
        /**
         * Key prefix inside the bucket
         */
        prefix?: string;
        region?: string;
        /**
         * Endpoint URL of an S3-compatible server; omit for AWS
         */
        endpoint?:
          | string
          | {
              /**
               * Name of the environment variable holding the secret, e.g. "CI_PASSWORD"
               */
              env: string;
            };
        /**
         * Path-style addressing (MinIO, Ceph RGW)
         */
        forcePathStyle?: boolean;
        /**
         * Static keys from the environment; omit to use the AWS SDK's default credential chain
         */
        credentials?: {
          /**
           * A secret read from an environment variable at runtime
           */
          accessKeyId: {
            /**
             * Name of the environment variable holding the secret, e.g. "CI_PASSWORD"
             */
            env: string;
          };
          /**
           * A secret read from an environment variable at runtime
           */
          secretAccessKey: {
            /**
             * Name of the environment variable holding the secret, e.g. "CI_PASSWORD"
             */
            env: string;
          };
        };
        /**
         * Answer blob GETs with a redirect to a presigned URL
         */
        redirect?: boolean;
        /**
         * Multipart upload part size
         */
        partSize?: number | string;
        /**
         * This store's upload timeout; default: the top-level uploadTimeout ('1h')
         */
        uploadTimeout?: number | string;
        /**
         * Cap on the total bytes of uploads in progress on this store; an append that would pass it is refused (429, retryable). Absent: no cap
         */
        maxUploadBytes?: number | string;
      }
  )[];
  repositories?: (
    | {
        /**
         * Repository name: an OCI name component, unique
         */
        name: string;
        /**
         * An offline repository answers every request with 503
         */
        online?: boolean;
        /**
         * Name of the blob store holding this repository
         */
        blobStore?: string;
        /**
         * What anonymous clients may do; [] (the default) forces authentication
         */
        anonymous?: ('pull' | 'push' | 'delete')[];
        type: 'hosted';
        /**
         * allowRedeploy: tags may move; disableRedeploy: a tag once set is immutable; readOnly: no push
         */
        deploymentPolicy?: 'allowRedeploy' | 'disableRedeploy' | 'readOnly';
        /**
         * Cleanup rules: tags garbage collection deletes (a tag goes when any rule deletes it)
         */
        cleanup?: {
          /**
           * Regular expression selecting the tags this rule applies to (default: all)
           */
          tags?: string;
          /**
           * Regular expression of tags this rule never deletes
           */
          protect?: string;
          /**
           * Always keep this many most recently pushed selected tags
           */
          keep?: number;
          /**
           * Delete selected tags pushed longer ago than this
           */
          olderThan?: number | string;
          /**
           * Delete selected tags not pulled for this long (never pulled: since their push)
           */
          notPulledFor?: number | string;
        }[];
        /**
         * Most bytes the repository may hold (each blob counted once); a push over it is refused with DENIED
         */
        quota?: number | string;
      }
    | {
        /**
         * Repository name: an OCI name component, unique
         */
        name: string;
        /**
         * An offline repository answers every request with 503
         */
        online?: boolean;
        /**
         * Name of the blob store holding this repository
         */
        blobStore?: string;
        /**
         * What anonymous clients may do; [] (the default) forces authentication
         */
        anonymous?: ('pull' | 'push' | 'delete')[];
        type: 'proxy';
        remote: {
          /**
           * Absolute http(s) URL of the remote registry, without credentials
           */
          url: string;
          /**
           * docker-hub maps "alpine" to "library/alpine"; default docker-hub for Docker Hub hosts, else registry
           */
          index?: 'docker-hub' | 'registry';
          /**
           * Credentials for the remote registry
           */
          auth?: {
            username:
              | string
              | {
                  /**
                   * Name of the environment variable holding the secret, e.g. "CI_PASSWORD"
                   */
                  env: string;
                };
            /**
             * A secret read from an environment variable at runtime
             */
            password: {
              /**
               * Name of the environment variable holding the secret, e.g. "CI_PASSWORD"
               */
              env: string;
            };
          };
          /**
           * Timeout of one upstream request
           */
          timeout?: number | string;
          /**
           * Absolute http(s) URLs of mirrors of the remote, without credentials, tried in order before url (after it with mirrorsFirst: false); a failing one is skipped for a back-off period
           */
          mirrors?: string[];
          /**
           * Try the mirrors before url (true) or after it (false)
           */
          mirrorsFirst?: boolean;
          /**
           * Most requests in flight to one upstream endpoint at once; more wait their turn (default unlimited)
           */
          maxConcurrency?: number;
        };
        /**
         * How long a cached tag is trusted before revalidation
         */
        metadataMaxAge?: number | string;
        /**
         * How long an upstream "not found" is remembered
         */
        negativeCacheTtl?: number | string;
        /**
         * Serve only what is cached; never contact the remote
         */
        offline?: boolean;
        /**
         * Most bytes the cache may hold; over it, the least recently pulled content is evicted in the background
         */
        maxSize?: number | string;
        /**
         * Outbound proxy for this repository; false = none even if a global one is set
         */
        httpProxy?:
          | {
              /**
               * http(s)://host:port of an HTTP proxy, or socks5://host:port (regctl resolves names) or socks5h://host:port (the proxy resolves them); without credentials
               */
              url: string;
              auth?: {
                username: string;
                /**
                 * A secret read from an environment variable at runtime
                 */
                password: {
                  /**
                   * Name of the environment variable holding the secret, e.g. "CI_PASSWORD"
                   */
                  env: string;
                };
              };
              /**
               * Hosts or suffixes (".example.com") or "*" to reach directly
               */
              noProxy?: string[];
            }
          | false;
        /**
         * Images pulled through the proxy at start and every interval, without any client
         */
        prefetch?: {
          /**
           * Image references as clients name them in this repository: name[:tag] or name@digest
           */
          images:
            | [string, ...string[]]
            | {
                /**
                 * A file of image references, one a line (# comments), relative to the config file
                 */
                file: string;
              };
          /**
           * How often the images are pulled through again (their tags revalidated); also once at start
           */
          interval?: number | string;
        };
      }
    | {
        /**
         * Repository name: an OCI name component, unique
         */
        name: string;
        /**
         * An offline repository answers every request with 503
         */
        online?: boolean;
        /**
         * Name of the blob store holding this repository
         */
        blobStore?: string;
        /**
         * What anonymous clients may do; [] (the default) forces authentication
         */
        anonymous?: ('pull' | 'push' | 'delete')[];
        type: 'group';
        /**
         * Members, asked in order
         *
         * @minItems 1
         */
        members: [string, ...string[]];
        /**
         * Hosted member receiving pushes made through the group
         */
        writableMember?: string;
      }
  )[];
  listeners?: {
    /**
     * Address to bind
     */
    host?: string;
    /**
     * TCP port, 1-65535
     */
    port: number;
    /**
     * Default repository: /v2/<image>/... goes to it
     */
    repository?: string;
    /**
     * Path-prefix routes: ["repo"] routes /v2/repo/<image>; { prefix: "repo" } names the prefix
     */
    paths?:
      | string[]
      | {
          /**
           * A name, unique in its list
           */
          [k: string]: string;
        };
    /**
     * Host header (without port) → repository
     */
    virtualHosts?: {
      /**
       * A name, unique in its list
       */
      [k: string]: string;
    };
    /**
     * containerd mirror namespace (?ns=docker.io) → repository
     */
    mirrors?: {
      /**
       * A name, unique in its list
       */
      [k: string]: string;
    };
    tls?: {
      /**
       * PEM certificate chain file, relative to the config file
       */
      cert: string;
      /**
       * PEM private key file, relative to the config file
       */
      key: string;
    };
  }[];
  security?: {
    /**
     * Basic realm shown in challenges
     */
    realm?: string;
    users?: {
      /**
       * A name, unique in its list
       */
      name: string;
      /**
       * A bcrypt hash, or { env } naming the variable holding the password (never plaintext)
       */
      password:
        | {
            /**
             * A bcrypt hash, e.g. from `htpasswd -nbB`
             */
            bcrypt: string;
          }
        | {
            /**
             * Name of the environment variable holding the secret, e.g. "CI_PASSWORD"
             */
            env: string;
          };
      roles?: string[];
    }[];
    roles?: {
      [k: string]: {
        /**
         * Repository names or globs ("*" matches any run)
         *
         * @minItems 1
         */
        repositories: [string, ...string[]];
        /**
         * @minItems 1
         */
        actions: ['pull' | 'push' | 'delete', ...('pull' | 'push' | 'delete')[]];
      }[];
    };
    token?: {
      enabled?: boolean;
      issuer?: string;
      service?: string;
      /**
       * A duration: a number of seconds, or a string such as "30s", "15m", "24h", "7d"
       */
      ttl?: number | string;
      /**
       * HMAC key shared by replicas; omit for a random key per process
       */
      signingKey?: {
        /**
         * Name of the environment variable holding the secret, e.g. "CI_PASSWORD"
         */
        env: string;
      };
    };
    /**
     * Throttling of failed logins per address and per user name; left out: on, every field at its default
     */
    loginThrottle?: {
      enabled?: boolean;
      /**
       * Failed logins per client address (IPv6: per /64 prefix)
       */
      perAddress?: {
        /**
         * Failed logins allowed at once, before any wait
         */
        burst: number;
        /**
         * Failed logins allowed per minute after the burst
         */
        perMinute: number;
      };
      /**
       * Failed logins per user name as sent, whether that user exists or not
       */
      perUser?: {
        /**
         * Failed logins allowed at once, before any wait
         */
        burst: number;
        /**
         * Failed logins allowed per minute after the burst
         */
        perMinute: number;
      };
      /**
       * Each failure that empties a bucket doubles its refill interval, up to this
       */
      maxBackoff?: number | string;
      /**
       * Most addresses and most user names remembered at once (least recently used dropped)
       */
      maxTracked?: number;
    };
  };
  /**
   * Hot reload settings
   */
  reload?: {
    /**
     * How long a reload may take to evaluate the config before it is killed and the reload fails
     */
    timeout?: number | string;
  };
  /**
   * How long an upload may go without receiving bytes before it is abandoned and deleted; the default of every blob store (each may set its own)
   */
  uploadTimeout?: number | string;
  /**
   * Outbound proxy for every proxy repository unless overridden
   */
  httpProxy?: {
    /**
     * http(s)://host:port of an HTTP proxy, or socks5://host:port (regctl resolves names) or socks5h://host:port (the proxy resolves them); without credentials
     */
    url: string;
    auth?: {
      username: string;
      /**
       * A secret read from an environment variable at runtime
       */
      password: {
        /**
         * Name of the environment variable holding the secret, e.g. "CI_PASSWORD"
         */
        env: string;
      };
    };
    /**
     * Hosts or suffixes (".example.com") or "*" to reach directly
     */
    noProxy?: string[];
  };
  /**
   * Prometheus metrics on their own listener, path /metrics; off when absent
   */
  metrics?: {
    /**
     * Address the metrics listener binds (default loopback)
     */
    host?: string;
    /**
     * TCP port of the metrics listener, 1-65535 (default 9464)
     */
    port?: number;
  };
  /**
   * Audit log of pushes, deletes, tag moves, failed logins, refusals and reloads
   */
  audit?: {
    /**
     * Where audit lines are appended: a path (relative to the config file) or "stdout"
     */
    file: string;
  };
  /**
   * Webhook endpoints notified of pushes, deletes, pulls
   */
  notifications?: {
    /**
     * Name in metrics and logs (default: the URL host:port); unique among the notifications
     */
    name?: string;
    /**
     * http(s) URL the events are POSTed to
     */
    url: string;
    /**
     * Which events to send: push, delete, pull (default push and delete)
     *
     * @minItems 1
     */
    events?: ['push' | 'delete' | 'pull', ...('push' | 'delete' | 'pull')[]];
    /**
     * Repository names or globs (`team-*`) whose events are sent (default every repository)
     *
     * @minItems 1
     */
    repositories?: [string, ...string[]];
    /**
     * Extra request headers; secrets as { env: NAME }
     */
    headers?: {
      [k: string]:
        | string
        | {
            /**
             * Name of the environment variable holding the secret, e.g. "CI_PASSWORD"
             */
            env: string;
          };
    };
    /**
     * How long one delivery attempt may take
     */
    timeout?: number | string;
    /**
     * Events held for this endpoint while it is slow or down; beyond it new events are dropped
     */
    queueSize?: number;
    /**
     * Delivery attempts of a batch (backoff 1 s doubling to 60 s) before it is dropped
     */
    maxAttempts?: number;
  }[];
  /**
   * Online garbage collection of the blob stores
   */
  gc?: {
    /**
     * How often every blob store is collected while serving; 0 or absent = never on a schedule (run `regctl gc`)
     */
    interval?: number | string;
    /**
     * Content younger than this is never collected: a push in progress has this long to reference what it uploaded
     */
    gracePeriod?: number | string;
    /**
     * How long a pass keeps what it removes restorable before deleting it (default: the grace period, at most 60s): a client that found a blob present has this long to push a manifest referencing it
     */
    settle?: number | string;
  };
  /**
   * The read-only web UI under /ui/ on every listener (repositories, tags, images, the plan, reload history); false turns it off (404)
   */
  ui?: boolean;
}
