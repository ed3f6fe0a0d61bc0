import { useState } from 'react';
import { Navigate, Route, Routes } from 'react-router';
import { NotificationSearch, type SearchState } from './NotificationSearch';
import { NotificationDetail } from './NotificationDetail';
import './notifications.css';

/**
 * Notifications: the search (kept here, in memory, so coming back from a notification finds it as it
 * was; never in the URL) and one notification by its opaque id.
 */
export default function NotificationsScreen() {
  const [search, setSearch] = useState<SearchState>({ filter: {}, patientLabel: null });
  return (
    <div className="sp-notifications">
      <Routes>
        <Route index element={<NotificationSearch state={search} onState={setSearch} />} />
        <Route path=":id" element={<NotificationDetail />} />
        <Route path="*" element={<Navigate to="/notifications" replace />} />
      </Routes>
    </div>
  );
}
