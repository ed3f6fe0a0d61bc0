import { useTranslation } from 'react-i18next';
import type { TFunction } from 'i18next';
import type { SettingsInfo } from './types';

/** "7 days", "1 day", "2 hours", "90 minutes": an offset in the largest whole unit. */
function offsetText(minutes: number, t: TFunction): string {
  if (minutes % 1440 === 0) return t('settings.delivery.days', { count: minutes / 1440 });
  if (minutes % 60 === 0) return t('settings.delivery.hours', { count: minutes / 60 });
  return t('settings.delivery.minutes', { count: minutes });
}

/** Reminder offsets and quiet hours: installation configuration, shown with where they are set. */
export function DeliverySettings({ delivery }: { delivery: SettingsInfo['delivery'] }) {
  const { t } = useTranslation();
  return (
    <section className="sp-card sp-settings-panel" aria-labelledby="sp-settings-delivery">
      <h2 id="sp-settings-delivery">{t('settings.delivery.title')}</h2>
      <p className="sp-intro">{t('settings.delivery.intro')}</p>
      <dl className="sp-settings-list">
        <div>
          <dt>{t('settings.delivery.offsets')}</dt>
          <dd data-testid="reminder-offsets">
            {delivery.reminderOffsetsMinutes.map((m) => offsetText(m, t)).join(', ')}
            <span className="sp-settings-source">
              {t('settings.delivery.setBy')} <code>{delivery.sources.reminderOffsets}</code>
            </span>
          </dd>
        </div>
        <div>
          <dt>{t('settings.delivery.quietHours')}</dt>
          <dd data-testid="quiet-hours">
            {delivery.quietHours
              ? t('settings.delivery.quietRange', delivery.quietHours)
              : t('settings.delivery.quietOff')}
            <span className="sp-settings-source">
              {t('settings.delivery.setBy')} <code>{delivery.sources.quietHours}</code>
            </span>
          </dd>
        </div>
      </dl>
    </section>
  );
}
