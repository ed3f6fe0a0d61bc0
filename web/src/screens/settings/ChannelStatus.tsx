import { useTranslation } from 'react-i18next';
import { Badge, DataTable } from '../../components/kit';
import type { SettingsInfo } from './types';

type Channel = SettingsInfo['channels'][number];

function factText(v: string | number | boolean, t: (k: string) => string): string {
  return typeof v === 'boolean' ? t(v ? 'settings.channels.yes' : 'settings.channels.no') : String(v);
}

/** Which channel uses which provider, whether it is live, and what is set: never a secret's value. */
export function ChannelStatus({ channels }: { channels: Channel[] }) {
  const { t } = useTranslation();
  return (
    <section className="sp-card sp-settings-panel" aria-labelledby="sp-settings-channels">
      <h2 id="sp-settings-channels">{t('settings.channels.title')}</h2>
      <p className="sp-intro">{t('settings.channels.intro')}</p>
      <DataTable
        caption={t('settings.channels.title')}
        columns={[
          {
            key: 'channel',
            header: t('settings.channels.channel'),
            cell: (c) => t(`settings.channels.kind.${c.channel}`),
          },
          { key: 'provider', header: t('settings.channels.provider'), cell: (c) => <code>{c.provider}</code> },
          {
            key: 'live',
            header: t('settings.channels.status'),
            cell: (c) => (
              <Badge tone={c.live ? 'ok' : 'warn'}>
                {t(c.live ? 'settings.channels.live' : 'settings.channels.notLive')}
              </Badge>
            ),
          },
          {
            key: 'facts',
            header: t('settings.channels.facts'),
            cell: (c) => (
              <ul className="sp-settings-facts">
                {Object.entries(c.facts).map(([k, v]) => (
                  <li key={k}>
                    {t(`settings.channels.fact.${k}`)}: {factText(v, t)}
                  </li>
                ))}
              </ul>
            ),
          },
          {
            key: 'vars',
            header: t('settings.channels.variables'),
            cell: (c) =>
              c.variables.map((v) => (
                <code key={v} className="sp-settings-var">
                  {v}
                </code>
              )),
          },
        ]}
        rows={channels}
        rowKey={(c) => c.channel}
      />
    </section>
  );
}
