import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { useTranslation } from 'react-i18next';
import { DataTable, type Column } from '../../components/kit';
import type { OpsWindow, Stats } from './types';

type Row = { key: string; label: string; total: number } & Record<string, number | string>;

/** A label for a bucket's start: the time of day (hour, day windows) or weekday and time (week). */
export function bucketLabel(start: string, window: OpsWindow, language: string): string {
  const d = new Date(start);
  const time = d.toLocaleTimeString(language, { hour: '2-digit', minute: '2-digit' });
  return window === 'week' ? `${d.toLocaleDateString(language, { weekday: 'short' })} ${time}` : time;
}

/**
 * One stacked bar chart of the window's buckets, split by `by` (status or channel), with the same
 * figures as a table behind a disclosure: the chart's text alternative for screen readers and for
 * anyone who wants the numbers.
 */
export function ActivityChart({
  stats,
  by,
  keys,
  colours,
  title,
  nameOf,
}: {
  stats: Stats;
  by: 'status' | 'channel';
  keys: readonly string[];
  colours: Record<string, string>;
  title: string;
  nameOf: (key: string) => string;
}) {
  const { t, i18n } = useTranslation();
  const present = keys.filter((k) => stats.totals.some((c) => c[by] === k && c.n > 0));
  const rows: Row[] = stats.buckets.map((b) => {
    const row: Row = { key: b.start, label: bucketLabel(b.start, stats.window, i18n.language), total: 0 };
    for (const k of present) row[k] = 0;
    for (const c of b.counts) {
      row[c[by]] = Number(row[c[by]] ?? 0) + c.n;
      row.total += c.n;
    }
    return row;
  });
  const columns: Column<Row>[] = [
    { key: 'label', header: t('overview.chart.time'), cell: (r) => r.label },
    ...present.map((k) => ({ key: k, header: nameOf(k), cell: (r: Row) => r[k] })),
    { key: 'total', header: t('overview.chart.total'), cell: (r) => r.total },
  ];
  const id = `sp-overview-chart-${by}`;
  return (
    <figure className="sp-card sp-overview-figure" aria-labelledby={id}>
      <figcaption id={id}>
        <h3>{title}</h3>
      </figcaption>
      {present.length === 0 ? (
        <p className="sp-empty">{t('overview.chart.empty')}</p>
      ) : (
        <div className="sp-overview-chart" aria-hidden="true">
          <ResponsiveContainer width="100%" height={240}>
            <BarChart data={rows} accessibilityLayer={false}>
              <CartesianGrid strokeDasharray="3 3" vertical={false} />
              <XAxis dataKey="label" fontSize={12} interval="preserveStartEnd" minTickGap={16} />
              <YAxis allowDecimals={false} fontSize={12} width={36} />
              <Tooltip />
              <Legend />
              {present.map((k) => (
                <Bar
                  key={k}
                  dataKey={k}
                  name={nameOf(k)}
                  stackId="a"
                  fill={colours[k] ?? '#666'}
                  isAnimationActive={false}
                />
              ))}
            </BarChart>
          </ResponsiveContainer>
        </div>
      )}
      {present.length > 0 && (
        <details>
          <summary>{t('overview.chart.asTable')}</summary>
          <DataTable caption={title} columns={columns} rows={rows} rowKey={(r) => r.key} />
        </details>
      )}
    </figure>
  );
}
