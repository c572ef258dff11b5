/**
 * The four metrics every HTTP request feeds — `regctl_http_requests_total`,
 * `regctl_http_request_duration_seconds`, `regctl_http_response_bytes_total` and
 * `regctl_http_request_bytes_total` — counted in plain numbers per (repository, route) and handed
 * to prom-client only when `/metrics` is rendered.
 *
 * Why not prom-client's children: a child's `inc()` or `observe()` validates and re-hashes its label
 * values into a string on every call, and allocates; at tens of thousands of requests per second
 * that was most of what metrics cost a manifest GET. Here a request costs two map lookups (by
 * repository, then route), one more by method and status, and a few additions; a scrape costs one
 * pass over the series. prom-client still owns the names, the registry and the text format: the
 * counters are prom-client `Counter`s filled in their `collect()`, the histogram a metric object
 * whose `get()` returns prom-client's own value shape. What a scrape shows is unchanged.
 */
import { Counter, type Metric, type MetricValueWithName, type Registry } from 'prom-client';

/** The figures of one answered request (its label values besides repository and method). */
export interface HttpObservation {
  readonly route: string;
  readonly status: number;
  readonly seconds: number;
  readonly bytesSent: number;
  readonly bytesReceived: number;
}

interface RequestCount {
  readonly labels: { repository: string; method: string; route: string; status: string };
  count: number;
}

/** What one (repository, route) pair counted since the process started. */
interface RouteSeries {
  readonly labels: { repository: string; route: string };
  /** Observations per bucket, not cumulative; the last slot is above the highest bound (+Inf). */
  readonly buckets: number[];
  sum: number;
  count: number;
  /** By `status * 16 + method index`. */
  readonly requests: Map<number, RequestCount>;
}

interface RepositorySeries {
  readonly routes: Map<string, RouteSeries>;
  sent: number;
  received: number;
}

type HistogramValue = MetricValueWithName<string>;

export class HttpSeries {
  readonly #bounds: readonly number[];
  readonly #methods: readonly string[];
  readonly #repositories = new Map<string, RepositorySeries>();

  /** Registers the four metrics in `registry`; `methods` are the method label values (index order). */
  constructor(registry: Registry, options: { buckets: readonly number[]; methods: readonly string[] }) {
    this.#bounds = [...options.buckets].sort((a, b) => a - b);
    this.#methods = options.methods;
    const registers = [registry];
    const series = this.#repositories;
    new Counter({
      name: 'regctl_http_requests_total',
      help: 'HTTP requests answered, by repository, method, route and status',
      labelNames: ['repository', 'method', 'route', 'status'],
      registers,
      collect() {
        this.reset();
        for (const repository of series.values())
          for (const route of repository.routes.values())
            for (const request of route.requests.values()) this.inc(request.labels, request.count);
      },
    });
    registry.registerMetric(this.#histogram() as unknown as Metric);
    const bytes = (name: string, help: string, pick: (r: RepositorySeries) => number) =>
      new Counter({
        name,
        help,
        labelNames: ['repository'],
        registers,
        collect() {
          this.reset();
          for (const [repository, counted] of series) {
            const value = pick(counted);
            if (value > 0) this.inc({ repository }, value);
          }
        },
      });
    bytes('regctl_http_response_bytes_total', 'Response body bytes sent, by repository', (r) => r.sent);
    bytes('regctl_http_request_bytes_total', 'Request body bytes received, by repository', (r) => r.received);
  }

  /** Counts one answered request; `method` must be one of the constructor's `methods`. */
  record(repositoryName: string, method: string, observation: HttpObservation): void {
    let repository = this.#repositories.get(repositoryName);
    if (repository === undefined) {
      repository = { routes: new Map(), sent: 0, received: 0 };
      this.#repositories.set(repositoryName, repository);
    }
    let route = repository.routes.get(observation.route);
    if (route === undefined) {
      route = {
        labels: { repository: repositoryName, route: observation.route },
        buckets: new Array<number>(this.#bounds.length + 1).fill(0),
        sum: 0,
        count: 0,
        requests: new Map(),
      };
      repository.routes.set(observation.route, route);
    }
    const methodIndex = this.#methods.indexOf(method);
    const key = observation.status * 16 + methodIndex;
    const request = route.requests.get(key);
    if (request === undefined) {
      route.requests.set(key, {
        labels: {
          repository: repositoryName,
          method,
          route: observation.route,
          status: String(observation.status),
        },
        count: 1,
      });
    } else request.count++;
    const bounds = this.#bounds;
    let bucket = 0;
    while (bucket < bounds.length && observation.seconds > (bounds[bucket] as number)) bucket++;
    route.buckets[bucket] = (route.buckets[bucket] as number) + 1;
    route.sum += observation.seconds;
    route.count++;
    repository.sent += observation.bytesSent;
    repository.received += observation.bytesReceived;
  }

  /** Drops the series of every repository but `''` and those in `keep` (a reload removed them). */
  prune(keep: ReadonlySet<string>): void {
    for (const name of this.#repositories.keys()) if (name !== '' && !keep.has(name)) this.#repositories.delete(name);
  }

  /**
   * `regctl_http_request_duration_seconds` as prom-client's registry renders a histogram: its
   * `get()` gives, for each series, the cumulative `_bucket` values with their `le`, then `+Inf`,
   * `_sum` and `_count` (the value shape of prom-client's own `Histogram`).
   */
  #histogram() {
    const series = this.#repositories;
    const bounds = this.#bounds;
    const name = DURATION.name;
    const get = async () => {
      const values: HistogramValue[] = [];
      for (const repository of series.values()) {
        for (const route of repository.routes.values()) {
          let cumulative = 0;
          for (let i = 0; i <= bounds.length; i++) {
            cumulative += route.buckets[i] as number;
            const le = i < bounds.length ? (bounds[i] as number) : '+Inf';
            values.push({ metricName: `${name}_bucket`, labels: { le, ...route.labels }, value: cumulative });
          }
          values.push({ metricName: `${name}_sum`, labels: { ...route.labels }, value: route.sum });
          values.push({ metricName: `${name}_count`, labels: { ...route.labels }, value: route.count });
        }
      }
      return { ...DURATION, type: 'histogram', aggregator: 'sum', values };
    };
    return {
      ...DURATION,
      type: 'histogram',
      aggregator: 'sum',
      labelNames: ['repository', 'route'],
      get,
      reset: () => series.clear(),
    };
  }
}

const DURATION = {
  name: 'regctl_http_request_duration_seconds',
  help: 'Time from the request to the end of its response, by repository and route',
};
